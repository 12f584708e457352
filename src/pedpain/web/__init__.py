"""The bedside and study web application (``pedpain serve``): FastAPI, server-rendered
pages, a JSON API under ``/api/v1``. Research software, not a medical device.

    from pedpain.web import create_app
    app = create_app(load_settings(), host="127.0.0.1")
"""

from pedpain.web.app import create_app

__all__ = ["create_app"]
