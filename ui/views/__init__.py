"""The UI's pages. Each module is a Streamlit page script with one ``render()`` function.

Pages only lay out: data comes from :mod:`flightlog.ui.client`, formatting from
:mod:`flightlog.ui.format`, filter and URL state from :mod:`flightlog.ui.filters` and
:mod:`flightlog.ui.session`.
"""
