"""Django settings of make bench-db's page (tests/bench/db_django/): the
least a project needs to serve one view from PostgreSQL.

    TORNADO_POSTGRES_DSN="host=... port=... user=... dbname=..." \
      /usr/bin/python3 -m gunicorn --chdir tests/bench/db_django \
        --worker-class gthread --workers 1 --threads 10 wsgi

The database is the benchmark's cluster, given as libpq's keyword string
in TORNADO_POSTGRES_DSN (tools/pg_cluster.py prints one; a host that
starts with '/' is the folder of its unix socket). Debian's python3-django
3.2 and python3-psycopg2 (tools/install-deps.sh db).
"""
import os

# "host=/x port=5432 user=postgres dbname=postgres" -> its fields.
_DSN = dict(field.split("=", 1) for field in os.environ.get("TORNADO_POSTGRES_DSN", "").split())

SECRET_KEY = "make-bench-db-has-no-secrets"  # no sessions, no cookies: nothing is signed
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "urls"
INSTALLED_APPS = []
MIDDLEWARE = []
USE_TZ = True

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # psycopg2
        "NAME": _DSN.get("dbname", "postgres"),
        "USER": _DSN.get("user", "postgres"),
        "HOST": _DSN.get("host", ""),
        "PORT": _DSN.get("port", ""),
        # Connections persist: each of gunicorn's threads keeps its own for
        # the whole run, instead of connecting again for every request.
        "CONN_MAX_AGE": None,
    }
}

# Errors to stderr (the benchmark keeps it), one line each.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
