"""The RPF Panel dashboard (param models, views, session runner).

The dashboard drives :mod:`rpf.pipeline` (``start_run`` and its event
stream); it is the next piece of work and is not built yet.
"""
