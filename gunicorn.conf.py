"""gunicorn settings for Speak Up (production: `gunicorn 'speakup.app:create_app()'`)."""

# Rule 1 of DESIGN.md: the access log never contains client addresses. gunicorn's
# default format starts with %(h)s (the remote address); this one leaves it out,
# and leaves out the user agent and referrer too.
access_log_format = '%(t)s "%(r)s" %(s)s %(b)s %(M)sms'
accesslog = "-"
errorlog = "-"
bind = "127.0.0.1:8000"
workers = 2
threads = 4
worker_class = "gthread"
# Behind a reverse proxy gunicorn must not turn X-Forwarded-For into REMOTE_ADDR.
forwarded_allow_ips = ""
proxy_allow_ips = ""
timeout = 60
graceful_timeout = 30
limit_request_line = 8190
