"""Video ids: readable, bounded, and never shared by two different sources."""
from __future__ import annotations

from harvest.ids import MAX_VIDEO_ID_CHARS, assign_video_ids, generic_id_for, video_id_for


def test_names_an_id_cannot_keep_and_queries_get_a_hash_of_the_url():
    chinese, russian = generic_id_for("http://h/视频.mp4"), generic_id_for("http://h/видео.mp4")
    assert chinese.startswith("generic-x-") and russian.startswith("generic-x-") and chinese != russian
    assert generic_id_for("http://h/%E8%A7%86%E9%A2%91.mp4") == chinese  # the same URL, percent-encoded
    first, second = generic_id_for("http://h/watch.mp4?id=1"), generic_id_for("http://h/watch.mp4?id=2")
    assert first.startswith("generic-watch-") and second.startswith("generic-watch-") and first != second
    assert generic_id_for("HTTP://H:80/watch.mp4?id=2#t=3") == second  # one resource, another spelling
    assert generic_id_for("http://h/media/walk.mp4") == "generic-walk"  # a plain name stays as it was


def test_long_ids_are_cut_to_a_bounded_length_and_stay_apart():
    a, b = generic_id_for("http://h/" + "n" * 200 + "a.mp4"), generic_id_for("http://h/" + "n" * 200 + "b.mp4")
    assert len(a) == len(b) == MAX_VIDEO_ID_CHARS and a != b and a.startswith("generic-nnnn")
    assert len(video_id_for("Generic", "y" * 300)) == MAX_VIDEO_ID_CHARS
    assert video_id_for("Youtube", "dQw4w9WgXcQ") == "youtube-dQw4w9WgXcQ"


def test_two_urls_of_one_name_get_two_ids_and_the_first_keeps_the_plain_one():
    listed = [("generic-clip", "http://h/a/clip.mp4", True), ("generic-clip", "http://h/b/clip.mp4", True),
              ("generic-clip", "http://other/a/clip.mp4", True), ("generic-clip", "http://H/a/clip.mp4", True),
              ("youtube-abc", "https://youtu.be/abc", False), ("youtube-abc", "https://www.youtube.com/watch?v=abc", False)]
    ids = assign_video_ids(listed, bound={})
    assert ids[0] == "generic-clip" and ids[3] == "generic-clip"  # the same URL, however spelt
    assert len({ids[0], ids[1], ids[2]}) == 3 and ids[1].startswith("generic-clip-")
    assert ids[4:] == ["youtube-abc", "youtube-abc"]  # a site's own id is one video whatever its URL
    assert assign_video_ids(listed, bound={}) == ids  # the same every time


def test_an_id_the_root_already_holds_stays_with_its_url_in_later_runs():
    """A later run lists the second URL first: the id stays with the URL the root downloaded under it."""
    earlier = assign_video_ids([("generic-clip", "http://h/a/clip.mp4", True),
                                ("generic-clip", "http://h/b/clip.mp4", True)], bound={})
    bound = {"http://h/a/clip.mp4": earlier[0], "http://h/b/clip.mp4": earlier[1]}
    later = assign_video_ids([("generic-clip", "http://h/b/clip.mp4", True),
                              ("generic-clip", "http://h/a/clip.mp4", True)], bound=bound)
    assert later == earlier[::-1]
    alone = assign_video_ids([("generic-clip", "http://h/c/clip.mp4", True)], bound=bound)
    assert alone[0] not in earlier and alone[0].startswith("generic-clip-")
    respelt = assign_video_ids([("generic-clip", "HTTP://h:80/a/clip.mp4", True)], bound=bound)
    assert respelt == [earlier[0]]
