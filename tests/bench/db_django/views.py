"""The page of make bench-db, as a Django view: two queries on the
thread's own connection (django.db.connection), each blocking the thread
until PostgreSQL answers.

    GET /page?ms=50 -> "item 17: item number 17 (and 50 ms in pg_sleep)"
"""
import random

from django.db import connection
from django.http import HttpResponse, HttpResponseBadRequest

ITEMS = 1000
MAX_DELAY_MS = 10000


def page(request):
    text = request.GET.get("ms", "50")
    if not text.isdigit() or int(text) > MAX_DELAY_MS:
        return HttpResponseBadRequest("ms must be a number from 0 to 10000\n")
    ms = int(text)
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, title FROM items WHERE id = %s", [random.randint(1, ITEMS)])
        item_id, title = cursor.fetchone()
        cursor.execute("SELECT pg_sleep(%s / 1000.0)", [ms])
    response = HttpResponse("item %d: %s (and %d ms in pg_sleep)\n" % (item_id, title, ms),
                            content_type="text/plain; charset=utf-8")
    # What CommonMiddleware would add (this project runs none): without it
    # gunicorn sends the body chunked, which no other server here does.
    response["Content-Length"] = len(response.content)
    return response
