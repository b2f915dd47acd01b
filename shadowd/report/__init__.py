"""``shadowctl report``: a self-contained HTML page of the shadow, with pictures.

``data`` is the data (``ReportData``, sent over the control socket), ``rows`` its rows
from the state, the worst cases and the forecasts (``shadowd.services.report`` gathers
those from the daemon's parts), ``svg`` draws the map and the charts, ``html`` the page.
All of it is pure: data in, a string out.
"""
