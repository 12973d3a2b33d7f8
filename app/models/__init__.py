"""Headless state of the dashboard: ``param`` models with no Panel import.

One :class:`~app.models.session.Session` per browser session holds the
inputs, the run controller and the selection; views read and write them.
"""
