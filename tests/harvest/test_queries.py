from __future__ import annotations

import pytest

from harvest.ids import generic_id_for, video_id_for
from harvest.queries import InputFileError, read_hashtags, read_url_list


def test_hashtags_file_with_comments_blank_lines_and_hashes(tmp_path):
    path = tmp_path / "tags.txt"
    path.write_text("# dance moves\n#Dance\n\nparkour   # roofs\nDANCE\nyoga\n")
    queries = read_hashtags(path, template="http://127.0.0.1:1/tags/{tag}/")
    assert [q.query for q in queries] == ["#dance", "#parkour", "#yoga"]
    assert queries[0].url == "http://127.0.0.1:1/tags/dance/"
    assert queries[0].query_id == "insta:#dance" and queries[0].dataset == "insta"


def test_bad_hashtag_lines_are_all_reported_with_line_numbers(tmp_path):
    path = tmp_path / "tags.txt"
    path.write_text("dance\nhip hop\nok_tag\nfoo/bar\n")
    with pytest.raises(InputFileError) as error:
        read_hashtags(path)
    message = str(error.value)
    assert "2 bad lines" in message
    assert f"{path}:2: 'hip hop' is not a hashtag" in message
    assert f"{path}:4: 'foo/bar'" in message


def test_url_list_takes_urls_and_youtube_ids(tmp_path):
    path = tmp_path / "vlog_ids.txt"
    path.write_text("dQw4w9WgXcQ\nhttps://example.org/v/1.mp4\n\n# comment\nnot a url\n")
    with pytest.raises(InputFileError, match=r"vlog_ids.txt:5: 'not a url' is neither"):
        read_url_list(path)
    path.write_text("dQw4w9WgXcQ\nhttps://example.org/v/1.mp4\n")
    queries = read_url_list(path)
    assert [q.url for q in queries] == ["https://www.youtube.com/watch?v=dQw4w9WgXcQ", "https://example.org/v/1.mp4"]
    assert {q.query for q in queries} == {"vlog_ids.txt"} and queries[0].dataset == "vlog"


def test_video_ids_are_safe_file_names():
    assert video_id_for("Instagram", "C1a/b..c") == "instagram-C1a_b_c"
    assert generic_id_for("http://h/media/my clip.mp4") == "generic-my_clip"
    assert generic_id_for("http://h/media/my clip.mp4?x=1").startswith("generic-my_clip-")  # see test_ids


def test_urls_that_name_one_video_need_no_request():
    from harvest.ytdlp import known_single_video

    youtube = known_single_video("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=3")
    assert youtube.video_id == "youtube-dQw4w9WgXcQ" and youtube.extractor == "Youtube"
    assert known_single_video("http://h/v/clip.MP4").video_id == "generic-clip"
    assert known_single_video("https://www.instagram.com/explore/tags/dance/") is None
