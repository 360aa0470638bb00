"""URLs of the review queue, comments, share links (and their guests' pages), the team
gallery and the spend page."""

from django.urls import path

from studio.review import share_views, views

urlpatterns = [
    path("review/", views.review_queue, name="review"),
    path("review/<uuid:pk>/", views.review_generation, name="review-generation"),
    path("review/bulk/", views.review_bulk, name="review-bulk"),
    path("review/news/", views.review_news, name="review-news"),
    path("review/<uuid:pk>/comments/", views.comment_create, name="comment-create"),
    path("review/comments/<int:pk>/edit/", views.comment_edit, name="comment-edit"),
    path("review/comments/<int:pk>/resolve/", views.comment_resolve, name="comment-resolve"),
    path("review/share/", share_views.share_create, name="share-create"),
    path("review/shares/", share_views.share_list, name="shares"),
    path("review/shares/<int:pk>/revoke/", share_views.share_revoke, name="share-revoke"),
    # Guests, signed out: everything under the link's token, nothing else.
    path("s/<str:token>/", share_views.shared_page, name="shared"),
    path("s/<str:token>/v/<uuid:pk>/", share_views.shared_video, name="shared-video"),
    path(
        "s/<str:token>/v/<uuid:pk>/comments/",
        share_views.shared_comment,
        name="shared-comment",
    ),
    path(
        "s/<str:token>/v/<uuid:pk>/video.mp4",
        share_views.shared_file,
        {"field": "video"},
        name="shared-video-file",
    ),
    path(
        "s/<str:token>/v/<uuid:pk>/poster.jpg",
        share_views.shared_file,
        {"field": "poster"},
        name="shared-poster",
    ),
    path(
        "s/<str:token>/v/<uuid:pk>/poster-1x.jpg",
        share_views.shared_file,
        {"field": "poster_1x"},
        name="shared-poster-1x",
    ),
    path("gallery/", views.gallery, name="gallery"),
    path("spend/", views.spend, name="spend"),
]
