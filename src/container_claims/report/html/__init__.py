"""The comparison as one self-contained HTML page: claims by runtimes, evidence a click away.

Everything the page needs is inside it (the stylesheet ``report.css`` and a few lines of
script are inlined; no fonts, images or scripts are fetched), so it can be attached to a CI
run or mailed. Each cell is a button that opens the cell's evidence as a popover panel (the
HTML ``popover`` attribute: keyboard-operable, closed with Escape, no script needed); a
browser without popovers shows the evidence inside the cell instead. The script only opens
the panel named in the URL's fragment: ``report.html#c-shell-is-pid-1--docker`` opens the
evidence of ``shell-is-pid-1`` on ``docker``.

The markup is in Jinja2 templates (``templates/``) with autoescape on: evidence is arbitrary
output of programs run in containers, so every text from a results file is escaped, and none
is ever compiled as a template. This module decides what the page shows (order, counts,
truncation) and hands the templates plain data.
"""

from container_claims.report.html.ids import cell_id
from container_claims.report.html.page import render_html, stylesheet

__all__ = ["cell_id", "render_html", "stylesheet"]
