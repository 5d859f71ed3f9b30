"""The git state in a record: what asking git gives, without starting git where git would
find no repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from fpexp import environment


def _asking_git(cwd: Path) -> dict | None:
    """The record's git state as git alone gives it (what fpexp did before the shortcut)."""
    commit = environment._git(cwd, "rev-parse", "HEAD")
    if commit is None:
        return None
    status = environment._git(cwd, "status", "--porcelain", "--untracked-files=no")
    root = environment._git(cwd, "rev-parse", "--show-toplevel")
    return {"commit": commit, "dirty": bool(status), "root": root}


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _repo(path: Path) -> Path:
    path.mkdir(parents=True)
    _git(path, "init", "-q")
    (path / "f.txt").write_text("x")
    _git(path, "add", "f.txt")
    _git(path, "commit", "-qm", "one")
    return path


def _places(tmp: Path) -> dict[str, Path]:
    repo = _repo(tmp / "repo")
    (repo / "sub" / "deeper").mkdir(parents=True)
    worktree = tmp / "wt"
    _git(repo, "worktree", "add", "-q", str(worktree))
    bare = tmp / "bare.git"
    _git(tmp, "clone", "-q", "--bare", str(repo), str(bare))
    (tmp / "plain" / "deeper").mkdir(parents=True)
    return {
        "repo": repo,
        "subdirectory": repo / "sub" / "deeper",
        "worktree (.git is a file)": worktree,
        "bare repository": bare,
        "outside": tmp / "plain" / "deeper",
    }


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, Path]:
    return _places(tmp_path_factory.mktemp("git"))


@pytest.mark.parametrize(
    "where", ["repo", "subdirectory", "worktree (.git is a file)", "bare repository", "outside"]
)
def test_the_state_is_what_git_says(places, where):
    assert environment.git_state(places[where]) == _asking_git(places[where])


def test_a_dirty_tree_is_dirty(tmp_path):
    repo = _repo(tmp_path / "r")
    (repo / "f.txt").write_text("changed")
    state = environment.git_state(repo)
    assert state is not None and state["dirty"] is True


def test_outside_any_repository_git_is_not_started(places, monkeypatch):
    if _asking_git(places["outside"]) is not None:
        pytest.skip("the temporary directory is inside a git repository")
    started: list[tuple] = []
    monkeypatch.setattr(environment, "_git", lambda *a: started.append(a))
    assert environment.git_state(places["outside"]) is None
    assert started == []


@pytest.mark.parametrize("variable", environment._GIT_DISCOVERY)
def test_a_variable_that_moves_git_s_search_leaves_the_answer_to_git(places, monkeypatch, variable):
    """GIT_DIR and its siblings can make a directory with no .git above it a repository's."""
    monkeypatch.setenv(variable, str(places["repo"] / ".git"))
    assert environment._maybe_in_git(places["outside"]) is True
    if variable == "GIT_DIR":
        state = environment.git_state(places["outside"])
        assert state is not None and state == _asking_git(places["outside"])
