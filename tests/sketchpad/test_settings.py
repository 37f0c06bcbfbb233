"""Settings: a throwaway scope for scripted runs that never reads or writes the user's file, and a file a
hand edit or a crash damaged gives defaults, never a crash."""

from __future__ import annotations

from sketchpad import paths, settings


def test_the_scratch_scope_never_touches_the_users_file(tmp_path):
    settings.put("model", "faces")
    settings.add_recent(tmp_path / "a.png")  # not on disk: listed files must exist
    (tmp_path / "a.png").write_bytes(b"x")
    settings.add_recent(tmp_path / "a.png")
    ini = paths.data_dir() / "settings.ini"
    before = ini.read_bytes()
    with settings.scratch():
        assert settings.is_scratch()
        assert settings.get("model") is None and settings.recent_files() == []  # starts as a first launch
        settings.put("model", "shoes")
        settings.add_recent(tmp_path / "a.png")
        assert settings.get_str("model") == "shoes" and len(settings.recent_files()) == 1
    assert not settings.is_scratch()
    assert ini.read_bytes() == before
    assert settings.get_str("model") == "faces"


def test_damaged_values_read_as_defaults(tmp_path):
    ini = paths.data_dir() / "settings.ini"
    good = tmp_path / "good.png"
    good.write_bytes(b"x")
    ini.write_text(
        "[General]\n"
        "model=@Variant(\\0\\0\\0\\x7f\\0\\0\\0\\x14)\n"
        "device=1, 2, 3\n"
        "[recent]\n"
        f"drawings={good}, /no/such/file.png, {'x' * 5000}, \n"
        "[models]\n"
        "opened=42\n"
    )
    assert settings.get_str("device", "auto") == "auto"  # a list is no device
    assert settings.get_str("model", None) is None  # a value Qt cannot read
    assert settings.recent_files() == [str(good)]
    assert settings.get_list("models/opened") == ["42"]
    assert settings.exists("a\x00b") is False and settings.exists("y" * 100_000) is False


def test_a_settings_file_of_garbage_bytes_gives_defaults():
    ini = paths.data_dir() / "settings.ini"
    ini.write_bytes(bytes(range(256)) * 40)
    assert settings.get_str("model", None) is None
    assert settings.recent_files() == []
    assert settings.get_list("models/opened") == []
