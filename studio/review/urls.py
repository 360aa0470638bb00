"""URLs of the review queue, the team gallery and the spend page."""

from django.urls import path

from studio.review import views

urlpatterns = [
    path("review/", views.review_queue, name="review"),
    path("review/<uuid:pk>/", views.review_generation, name="review-generation"),
    path("review/<uuid:pk>/comments/", views.comment_create, name="comment-create"),
    path("review/comments/<int:pk>/edit/", views.comment_edit, name="comment-edit"),
    path("review/comments/<int:pk>/resolve/", views.comment_resolve, name="comment-resolve"),
    path("gallery/", views.gallery, name="gallery"),
    path("spend/", views.spend, name="spend"),
]
