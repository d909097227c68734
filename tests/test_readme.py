"""The README's examples run as written, twice, in the environment they name.

- Every Python example runs twice against one emulator, as a reader trying
  them one after the other (and then once more) would: an example that only
  works on a fresh emulator (a 409 the second time) fails here.
- What an example imports is installed by the quick start (`pip install .`)
  or by an install line in its own section (`pip install
  'wriftai-async[otel]'`), whose extra really provides it.
- The inputs the examples send match the seeded models' schemas (the
  emulator checks them with `validate_input=True`).
- The command line's session (the console block of "Command line") runs as
  shown: each command's exit code is the `echo $?` under it, including a
  full disk, a closed pipe and Ctrl-C, and nothing prints a traceback.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

from tests._emulator_process import served
from wriftai_async import AsyncClient

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)
RUNNER = Path(__file__).resolve().parent / "_readme_runner.py"


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WRIFTAI_")}
    env.pop("PYTHONWARNINGS", None)
    env.update(extra)
    return env


def _run(args, env_extra=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(**(env_extra or {})),
        check=False,
    )


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 4


def test_every_example_runs_twice_against_one_emulator(emulator):
    runs = [*BLOCKS, *BLOCKS]  # all in README order, then all again
    result = subprocess.run(
        [sys.executable, "-W", "error", str(RUNNER)],
        input=json.dumps(runs),
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(
            WRIFTAI_ACCESS_TOKEN=emulator.access_token,
            WRIFTAI_API_BASE_URL=emulator.base_url,
        ),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    outcomes = json.loads(result.stdout)
    assert len(outcomes) == len(runs)
    for number, outcome in enumerate(outcomes):
        index, time = (
            number % len(BLOCKS),
            "second" if number >= len(BLOCKS) else "first",
        )
        where = f"README example {index} ({time} run):\n{BLOCKS[index][:300]}"
        assert outcome["code"] == 0, f"{where}\n{outcome['stderr']}"
        assert "Traceback" not in outcome["stderr"], f"{where}\n{outcome['stderr']}"
        assert outcome["stdout"].strip(), f"{where}: an example shows what it did"


# -- the environment each example needs ----------------------------------------------


def _name(requirement: str) -> str:
    return (
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
    )


def _distributions_by_module() -> dict[str, set[str]]:
    """Top-level module -> the installed distributions that provide it.

    ``importlib.metadata.packages_distributions`` misses namespace packages
    (``opentelemetry``) on Python 3.10; the files each one installed do not.
    """
    found: dict[str, set[str]] = {}
    for dist in distributions():
        for file in dist.files or ():
            top = file.parts[0] if file.parts else ""
            if not top or top.endswith((".dist-info", ".egg-info", ".pth")):
                continue
            if len(file.parts) == 1 and not top.endswith(".py"):
                continue  # a stray file at the top, not a module
            found.setdefault(top.removesuffix(".py"), set()).add(dist.metadata["Name"])
    return found


def _sections():
    """(section text before each python block, the block), in README order."""
    heading = re.compile(r"^## .*$", re.M)
    for found in re.finditer(r"```python\n(.*?)```", README, re.S):
        starts = [m.start() for m in heading.finditer(README, 0, found.start())]
        yield README[starts[-1] if starts else 0 : found.start()], found.group(1)


def test_every_example_says_how_to_install_what_it_imports():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    base = {_name(r) for r in project["dependencies"]}
    extras = {
        extra: {_name(r) for r in requirements}
        for extra, requirements in project["optional-dependencies"].items()
    }
    provided_by = _distributions_by_module()
    quick_start = re.search(r"pip install \.( |$)", README, re.M)
    assert quick_start, "the quick start installs the package"
    checked = 0
    for section, block in _sections():
        extras_here = {
            extra
            for line in re.findall(r"pip install [^\n`]*", section)
            for group in re.findall(r"\[([\w,-]+)\]", line)
            for extra in group.split(",")
        }
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "wriftai_async":
                    continue
                dists = {_name(d) for d in provided_by.get(top, [])}
                assert dists, f"{top} is not installed at all"
                if dists & base:
                    continue
                named = [e for e in extras_here if dists & extras.get(e, set())]
                assert named, (
                    f"an example imports {top} ({', '.join(sorted(dists))}), which "
                    "`pip install .` does not install, and its section gives no "
                    "`pip install 'wriftai-async[EXTRA]'` line whose extra does"
                )
                assert "test" not in named, "a user's extra, not the test suite's"
                checked += 1
    assert checked, "at least the OpenTelemetry example needs an extra"


# -- the pytest recipe: files of a user's own suite ----------------------------------

#: ```python conftest.py ... ```: a block that is a file of a user's test suite.
TEST_FILES = dict(re.findall(r"```python ([\w/]+\.py)\n(.*?)```", README, re.S))


def _user_pytest(tmp_path, *options):
    for name, text in TEST_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    # What the README asks of the user's configuration, and nothing of ours
    # (the rootdir is tmp_path: this project's pyproject.toml is not read).
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
    )
    return subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-W", "error"),
            *("-p", "no:cacheprovider", *options, str(tmp_path)),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(),
        check=False,
    )


def test_the_pytest_recipe_runs_in_strict_mode(tmp_path):
    assert set(TEST_FILES) == {"conftest.py", "test_my_service.py"}
    tests = len(
        re.findall(r"^(?:async )?def test_", TEST_FILES["test_my_service.py"], re.M)
    )
    result = _user_pytest(tmp_path, "-o", "asyncio_mode=strict", "-p", "no:xdist")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{tests} passed" in result.stdout, result.stdout


def test_the_pytest_recipe_runs_in_auto_mode_on_two_workers(tmp_path):
    # Each pytest-xdist worker starts its own emulators, on free ports.
    result = _user_pytest(tmp_path, "-o", "asyncio_mode=auto", "-n", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9][0-9]* passed", result.stdout), result.stdout
    assert "warning" not in result.stdout.lower(), result.stdout


# -- inputs match the seeded schemas -------------------------------------------------


def _created_inputs():
    """(model, input) of every ``predictions.create("owner/name", {...})``."""
    for block in BLOCKS:
        for node in ast.walk(ast.parse(block)):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "create"
                and isinstance(node.func.value, ast.Attribute)
                and node.func.value.attr == "predictions"
                and len(node.args) >= 2
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[1], ast.Dict)
            ):
                continue
            # A File (or any name) in the input is sent as its URL: a string.
            literal = _AsSentURL().visit(node.args[1])
            yield node.args[0].value, ast.literal_eval(literal)


class _AsSentURL(ast.NodeTransformer):
    """Every name or call in an input literal becomes the URL string it sends."""

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Constant("https://files.example/u1"), node)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        return ast.copy_location(ast.Constant("https://files.example/u1"), node)


def test_the_examples_inputs_match_the_seeded_schemas(emulator):
    created = list(_created_inputs())
    assert len(created) >= 3

    async def check() -> None:
        async with AsyncClient(emulator.access_token, emulator.base_url) as client:
            for model, input_ in created:
                await client.predictions.create(model, input_, validate_input=True)

    asyncio.run(check())


# -- the demo ------------------------------------------------------------------------


def test_demo_command_lists_updates_and_cancels():
    result = _run(
        ["-m", "wriftai_async", "demo", "--users", "20", "--models-per-user", "7"]
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"listed 140 models of 20 users", out), out
    assert "updated alice/" in out
    assert "status right after: started" in out
    assert "polled until terminal: status cancelled" in out


def test_demo_against_a_service_needs_a_token():
    result = _run(
        [
            *("-m", "wriftai_async", "demo"),
            *("--base-url", "http://127.0.0.1:9/v1", "--owners", "alice"),
        ]
    )
    assert result.returncode == 2 and "WRIFTAI_ACCESS_TOKEN" in result.stderr
    assert result.stderr.startswith("wriftai-async: error: ")


# -- the command line's session --------------------------------------------------------


def _session():
    """The commands of the "Command line" session: (command, shown lines)."""
    section = README[README.index("\n## Command line") :]
    block = re.search(r"```console\n(.*?)```", section, re.S).group(1)
    steps: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            steps.append((line[2:], []))
        elif steps:
            steps[-1][1].append(line)
    return steps


def _shown_exit_code(steps, index):
    """The number under an ``echo $?`` right after command ``index``."""
    if index + 1 < len(steps) and steps[index + 1][0].startswith("echo "):
        return int(steps[index + 1][1][0])
    return None


def test_the_command_line_session_runs_as_shown():
    steps = _session()
    commands = [c for c, _ in steps]
    assert any("/dev/full" in c for c in commands)
    assert any("| head" in c for c in commands)
    assert any(shown[-2:-1] == ["^C"] or "^C" in shown for _, shown in steps)
    with served(command=(sys.executable, "-m", "wriftai_async", "emulator")) as server:
        env = _env(
            STAGING_URL="",  # the README's unset variable: set to nothing here
            WRIFTAI_API_BASE_URL=server.base_url,
            WRIFTAI_ACCESS_TOKEN=server.token,
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        )
        for index, (command, shown) in enumerate(steps):
            if command.startswith(("wriftai-async emulator", "export ", "echo ")):
                continue  # the server is ours; the variables are set; codes below
            expected = _shown_exit_code(steps, index)
            if "^C" in shown:
                code, err = _interrupt(command, env)
            else:
                script = f"set -o pipefail; {command}"
                done = subprocess.run(
                    ["bash", "-c", script],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    env=env,
                    check=False,
                )
                code, err = done.returncode, done.stderr
            assert "Traceback" not in err and "Exception ignored" not in err, (
                command,
                err,
            )
            if expected is not None:
                assert code == expected, (command, code, err)
            for line in shown:  # every message of the command's own, as shown
                if line.startswith("wriftai-async: "):
                    line = line.replace("http://127.0.0.1:8000/v1", server.base_url)
                    assert line in err.splitlines(), (command, line, err)
        assert server.stop() == 0


def _interrupt(command, env):
    """Start ``command``, Ctrl-C it once it showed progress; (code, stderr)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "wriftai_async",
            *shlex.split(command)[1:],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = process.stderr.readline()  # a progress line: it is waiting
        assert first.startswith("["), first
        process.send_signal(signal.SIGINT)
        rest = process.stderr.read()
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    err = first + rest
    assert err.count("interrupted") == 1, err
    return process.returncode, err
