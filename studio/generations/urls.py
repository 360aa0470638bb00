"""URLs of the studio pages and fragments."""

urlpatterns: list = []
