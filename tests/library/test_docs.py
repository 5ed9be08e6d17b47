"""The documentation: the site builds offline, its reference shows the public API, and
every code block of the README and the pages is run or checked (tests/support/doc_blocks.py
says how a page marks a block):

- `python`: type-checked with mypy (strict), after its `prelude:` if it has one; a block
  titled with a file name is that file of a project (the README's, or the docs').
- `console`: run by tests/demo/test_readme.py, which reads every page in the site's order.
- `bash`: `run by:` a test that reads the page, titled "shell" (tests/library/test_user_project.py
  runs those of the first agent's page), or `not run:` with the reason.
- `toml`: parsed; `text`: `not run:` with the reason (output, listings, diagrams).

The examples shown as files (examples/expense-approval on the pipelines page) are the
example's files, and the example's tests, the README's agent test and the testing
guide's tests (in the first agent's project) pass as written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.demo.test_readme import PAGES as WALKTHROUGH
from tests.support.doc_blocks import README, ROOT, Block, blocks, pages, titled

DOCS = ROOT / "docs"
PIPELINE_PAGE = DOCS / "guides" / "pipelines.md"
PIPELINE_EXAMPLE = ROOT / "examples" / "expense-approval"
TESTING_PAGE = DOCS / "guides" / "testing.md"
FIRST_AGENT = ROOT / "examples" / "issue-triage"
USER_PROJECT_TEST = "tests/library/test_user_project.py"
# A block with `await` outside a function shows a step of an async program: it is
# checked as the body of an `async def` (see `project`).
MYPY = [f"--config-file={ROOT / 'pyproject.toml'}", "--no-error-summary"]
CHECKED_LANGS = {"python", "console", "bash", "toml", "text"}


def all_blocks() -> list[Block]:
    return [block for page in pages() for block in blocks(page)]


def test_every_block_is_of_a_kind_the_tests_check() -> None:
    wrong = [f"{b.where}: ```{b.lang}" for b in all_blocks() if b.lang not in CHECKED_LANGS]
    assert not wrong, "blocks no test checks (use python, console, bash, toml or text):\n" + (
        "\n".join(wrong)
    )


def test_every_command_block_is_run_or_says_why_not() -> None:
    wrong = []
    for block in all_blocks():
        if block.lang == "console":
            if block.path not in WALKTHROUGH:
                wrong.append(f"{block.where}: a console block on a page test_readme.py skips")
        elif block.lang == "bash" or block.lang == "text":
            runner = USER_PROJECT_TEST if block.title == "shell" else None
            if block.marker == "run by":
                runner = block.note
            if runner is not None:
                test = (ROOT / runner).read_text() if (ROOT / runner).is_file() else ""
                if str(block.path.relative_to(ROOT)) not in test:
                    wrong.append(f"{block.where}: {runner} does not read this page")
            elif block.marker != "not run" or not block.note:
                wrong.append(f"{block.where}: ```{block.lang} needs <!-- not run: REASON -->")
    assert not wrong, "\n".join(wrong)


def test_toml_blocks_parse() -> None:
    for block in all_blocks():
        if block.lang == "toml":
            tomllib.loads(block.code)  # raises, naming the line


def awaits_at_top_level(code: str) -> bool:
    """Whether `code` uses `await`, `async for` or `async with` outside a function."""
    try:
        compile(code, "<block>", "exec")  # parsing alone accepts a top-level await
    except SyntaxError as e:
        return "outside async function" in str(e) or "outside function" in str(e)
    return False


def project(files: list[Block], home: Path) -> dict[Path, tuple[Block, int]]:
    """Write the Python blocks into `home` as modules (a titled one at its path, with
    the packages it needs); map each file to its block and its prelude's lines."""
    written: dict[Path, tuple[Block, int]] = {}
    for block in files:
        name = block.title or f"block_{block.path.stem}_{block.line}.py".replace("-", "_")
        target = home / name
        prelude = block.note + "\n" if block.marker == "prelude" else ""
        if target in written:
            raise AssertionError(f"{block.where}: {name} is also {written[target][0].where}")
        target.parent.mkdir(parents=True, exist_ok=True)
        for package in target.relative_to(home).parents:
            if str(package) not in (".", "tests"):
                (home / package / "__init__.py").touch()
        code = block.code
        if awaits_at_top_level(code):  # a step of an async program: check it as one
            prelude += "async def _block() -> None:\n"
            code = "".join(
                f"    {line}" if line.strip() else line for line in code.splitlines(True)
            )
        target.write_text(prelude + code)
        written[target] = (block, prelude.count("\n"))
    return written


def mypy_errors(files: dict[Path, tuple[Block, int]], home: Path) -> list[str]:
    """mypy's errors, each at the page and line of the block it is in."""
    cache = ROOT / ".tether" / "mypy-docs"
    done = subprocess.run(
        [sys.executable, "-m", "mypy", *MYPY, "--cache-dir", str(cache), *map(str, files)],
        cwd=home, capture_output=True, text=True, timeout=600,
        env={**os.environ, "MYPYPATH": str(ROOT)},  # `tether` is an editable install here
    )  # fmt: skip
    errors = []
    for line in done.stdout.splitlines():
        found = re.match(r"(.+?):(\d+): (error|note): (.*)", line)
        if found is None or found[3] != "error":
            continue
        if (home / found[1]).resolve() not in files:
            errors.append(line)  # in a module a block imports
            continue
        block, prelude = files[(home / found[1]).resolve()]
        at = int(found[2]) - prelude
        where = f"{block.where} (its line {at})" if at > 0 else f"{block.where} (its prelude)"
        errors.append(f"{where}: {found[4]}")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return errors


@pytest.mark.parametrize("doc", ["README", "pages"])
def test_python_blocks_type_check(doc: str, tmp_path: Path) -> None:
    """The README's blocks are one project, the pages' another (both have a myapp)."""
    chosen = [README] if doc == "README" else [p for p in pages() if p != README]
    python = [b for page in chosen for b in blocks(page) if b.lang == "python"]
    assert python
    home = tmp_path.resolve()
    files = {path.resolve(): found for path, found in project(python, home).items()}
    errors = mypy_errors(files, home)
    assert not errors, "\n".join(errors)


def test_a_block_that_drifts_from_the_api_fails_the_check(tmp_path: Path) -> None:
    """The check itself: a block calling what Tether does not have is an error."""
    page = tmp_path / "page.md"
    page.write_text(
        "<!-- prelude:\nfrom tether import Agent\n-->\n```python\n"
        'Agent(name="a", instructions="b", max_turnz=3)\n```\n'
    )
    home = (tmp_path / "project").resolve()
    files = {p.resolve(): f for p, f in project(blocks(page), home).items()}
    [error] = mypy_errors(files, home)
    assert 'Unexpected keyword argument "max_turnz"' in error and "(its line 1)" in error


def test_the_pipeline_page_shows_the_example_as_it_is() -> None:
    shown = {name: code for name, code in titled(PIPELINE_PAGE).items() if name != "shell"}
    files = {
        str(path.relative_to(PIPELINE_EXAMPLE))
        for path in PIPELINE_EXAMPLE.rglob("*")
        if path.suffix in (".py", ".toml") and path.name != "__init__.py"
        and "__pycache__" not in path.parts
    }  # fmt: skip
    assert set(shown) == files
    for name, code in shown.items():
        assert code == (PIPELINE_EXAMPLE / name).read_text(), f"the page's {name} differs"


def run_tests(home: Path) -> subprocess.CompletedProcess[str]:
    """A project's own tests, as its README says: `python -m pytest tests -q` in it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TEMPORAL_"))}
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"],
        cwd=home, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_pipeline_example_passes_its_tests(tmp_path: Path) -> None:
    home = tmp_path / "expense-approval"
    shutil.copytree(PIPELINE_EXAMPLE, home, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    done = run_tests(home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 passed" in done.stdout


def test_the_testing_guides_tests_pass_in_the_first_agents_project(tmp_path: Path) -> None:
    """Its blocks are tests of the issue-triage agent: run them there."""
    home = tmp_path / "issue-triage"
    shutil.copytree(FIRST_AGENT, home, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    python = [b for b in blocks(TESTING_PAGE) if b.lang == "python"]
    (home / "tests" / "test_guide.py").write_text(
        "".join((b.note + "\n" if b.marker == "prelude" else "") + b.code for b in python)
    )
    done = run_tests(home)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{len(python) + 1} passed" in done.stdout  # and the project's own test


def test_the_readmes_agent_passes_its_test_as_written(tmp_path: Path) -> None:
    """The README's two files, with the one setting it names (`asyncio_mode = "auto"`)."""
    files = titled(README)
    assert set(files) == {"myapp/catalog.py", "tests/test_triage.py"}
    for name, code in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(code)
    (tmp_path / "myapp" / "__init__.py").touch()
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nasyncio_mode = "auto"\n')
    done = run_tests(tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site as `python3 dev.py docs` builds it: strict (a warning fails it)."""
    out = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).parent / "mkdocs"
    done = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    return out


@pytest.mark.parametrize("name", ["Agent", "tool", "AgentRun", "TetherPlugin"])
def test_the_reference_shows_the_public_api_with_its_docstrings(site: Path, name: str) -> None:
    import tether

    page = (site / "reference" / "tether" / "index.html").read_text()
    assert f'id="tether.{name}"' in page
    summary = (getattr(tether, name).__doc__ or "").strip().split("\n")[0]
    assert summary and summary.replace("`", "")[:40] in re.sub(r"<[^>]+>", "", page)


def test_the_site_asks_for_nothing_off_the_site(site: Path) -> None:
    """No web fonts, scripts or stylesheets from elsewhere: it reads offline."""
    remote = re.compile(r"<(?:script|link|img)\b[^>]*\b(?:src|href)=\"(?:https?:)?//", re.I)
    found = [
        f"{page.relative_to(site)}: {match[0]}"
        for page in site.rglob("*.html")
        for match in remote.finditer(page.read_text())
    ]
    assert not found, "\n".join(found[:10])
    assert not [p for p in site.rglob("*.html") if "fonts.googleapis" in p.read_text()]
