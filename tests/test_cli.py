"""Tests of the command line's error handling: bad input gives a message, not a traceback."""

import subprocess
import sys


def test_an_empty_input_file_is_an_error_not_a_traceback(tmp_path):
    empty = tmp_path / "summary.csv"
    empty.write_text("")
    result = subprocess.run([sys.executable, "-m", "klgap", "figures", "rate_split",
                             "--summaries", str(empty), "--pdf", str(tmp_path / "f.pdf"),
                             "--png", str(tmp_path / "f.png")], capture_output=True, text=True)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "empty file" in result.stderr and not (tmp_path / "f.pdf").exists()
