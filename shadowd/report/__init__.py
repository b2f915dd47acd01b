"""``shadowctl report``: a self-contained HTML page of the shadow, with pictures.

``model`` is the data (``ReportData``, sent over the control socket), ``gather`` builds
it from the daemon's parts, ``svg`` draws the map and the charts, ``html`` the page.
Rendering is pure: data in, a string out.
"""
