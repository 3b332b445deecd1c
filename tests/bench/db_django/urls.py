"""The one route of make bench-db's Django project."""
from django.urls import path

import views

urlpatterns = [path("page", views.page)]
