"""Read docker/Dockerfile the way BuildKit does, enough to lay out a target's files without a container engine.

`parse()` gives the stages; `Target` follows one target's FROM chain and answers what its image holds:
the files its COPY lines bring in from the build context (after the .dockerignore), the venv it copies from a
deps stage (and the lock that stage installs), what it copies from the model stage, its ENV, WORKDIR, EXPOSE,
HEALTHCHECK and CMD. `Target.lay_out()` writes that tree into a directory. Nothing here keeps a second list of
what an image contains: the Dockerfile is the only one.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the python:3.10-slim images' PATH
# RUN commands a service image may have: they only create the user and the writable directory.
HARMLESS_RUN = re.compile(r"^(groupadd|useradd|mkdir|chown|chmod)\b")


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int

    def flags_and_rest(self) -> tuple[dict[str, str], str]:
        """`--from=model --chown=app a b` -> ({"from": "model", "chown": "app"}, "a b")."""
        flags: dict[str, str] = {}
        rest = self.args.strip()
        while rest.startswith("--"):
            token, _, rest = rest.partition(" ")
            name, _, value = token[2:].partition("=")
            flags[name] = value
            rest = rest.strip()
        return flags, rest


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join continuation lines; drop comments (also inside a continuation, as Docker does) and blank lines."""
    lines: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        buffer += stripped
        lines.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        lines.append((start, buffer.strip()))
    return lines


def parse(path: Path) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages in order)."""
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for number, line in _logical_lines(path.read_text()):
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            parts = args.split()
            image = _expand(parts[0], global_args)
            name = parts[2] if len(parts) >= 3 and parts[1].upper() == "AS" else f"stage{len(stages)}"
            stages.append(Stage(name=name, base=image))
        elif not stages:
            if keyword == "ARG":
                key, _, value = args.partition("=")
                global_args[key.strip()] = value.strip()
        else:
            stages[-1].instructions.append(Instruction(keyword, args.strip(), number))
    return global_args, stages


def _expand(value: str, env: dict[str, str]) -> str:
    """`$VAR` / `${VAR}` as Docker expands them in ENV, FROM and COPY (unset: empty)."""
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: env.get(m.group(1) or m.group(2), ""), value)


def _json_or_shell(args: str) -> list[str]:
    args = args.strip()
    if args.startswith("["):
        return list(json.loads(args))
    return ["/bin/sh", "-c", args]


def _env_pairs(args: str) -> list[tuple[str, str]]:
    tokens = shlex.split(args, posix=True)
    if tokens and "=" not in tokens[0]:  # legacy `ENV KEY value with spaces`
        return [(tokens[0], " ".join(tokens[1:]))]
    return [(t.partition("=")[0], t.partition("=")[2]) for t in tokens]


class DockerIgnore:
    """BuildKit's rules: `<Dockerfile>.dockerignore` beside the Dockerfile wins over the context's `.dockerignore`;
    a path is excluded when a pattern matches it or one of its parent directories; the last matching pattern wins
    (`!` re-includes); `**` matches any number of directories."""

    def __init__(self, dockerfile: Path, context: Path) -> None:
        beside = dockerfile.with_name(dockerfile.name + ".dockerignore")
        source = beside if beside.exists() else context / ".dockerignore"
        self.source = source
        self.patterns: list[tuple[bool, re.Pattern[str]]] = []
        if source.exists():
            for raw in source.read_text().splitlines():
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                negate = line.startswith("!")
                pattern = line[1:].strip() if negate else line
                pattern = pattern.strip("/").removeprefix("./")
                self.patterns.append((negate, re.compile(_glob_to_regex(pattern))))

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for negate, pattern in self.patterns:
            if any(pattern.fullmatch(c) for c in candidates):
                verdict = not negate
        return verdict


def _glob_to_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            out += fnmatch.translate(pattern[i : end + 1])[4:-3] if end > i else re.escape("[")
            i = end + 1 if end > i else i + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return out


@dataclass
class CopyFromStage:
    """A COPY --from=<stage>: what the target takes out of a build stage."""

    stage: str
    source: str
    dest: str


@dataclass
class Target:
    """One buildable target, with its FROM chain resolved."""

    name: str
    chain: list[Stage]
    stages: dict[str, Stage]
    dockerfile: Path
    context: Path

    @classmethod
    def load(cls, dockerfile: Path, context: Path, name: str) -> Target:
        _, stages = parse(dockerfile)
        by_name = {s.name: s for s in stages}
        if name not in by_name:
            raise KeyError(f"{dockerfile} has no target {name!r}")
        chain = [by_name[name]]
        while chain[-1].base in by_name:
            chain.append(by_name[chain[-1].base])
        return cls(name, list(reversed(chain)), by_name, dockerfile, context)

    @property
    def instructions(self) -> list[Instruction]:
        return [i for stage in self.chain for i in stage.instructions]

    def last(self, keyword: str) -> Instruction | None:
        found = [i for i in self.instructions if i.keyword == keyword]
        return found[-1] if found else None

    @property
    def workdir(self) -> str:
        workdir = self.last("WORKDIR")
        return workdir.args if workdir else "/"

    @property
    def env(self) -> dict[str, str]:
        """The image's ENV, expanded in order (`PATH=/opt/venv/bin:$PATH` on the base image's PATH)."""
        env = {"PATH": DEFAULT_PATH}
        for instruction in self.instructions:
            if instruction.keyword == "ENV":
                for key, value in _env_pairs(instruction.args):
                    env[key] = _expand(value, env)
        return env

    @property
    def cmd(self) -> list[str]:
        cmd = self.last("CMD")
        if cmd is None:
            raise ValueError(f"target {self.name} has no CMD")
        return _json_or_shell(cmd.args)

    @property
    def healthcheck(self) -> list[str] | None:
        check = self.last("HEALTHCHECK")
        if check is None:
            return None
        _, rest = check.flags_and_rest()
        keyword, _, command = rest.partition(" ")
        return None if keyword.upper() == "NONE" else _json_or_shell(command)

    @property
    def exposed(self) -> list[int]:
        return [int(p.split("/")[0]) for i in self.instructions if i.keyword == "EXPOSE" for p in i.args.split()]

    @property
    def runs(self) -> list[str]:
        return [i.args for i in self.instructions if i.keyword == "RUN"]

    def copies_from_stages(self) -> list[CopyFromStage]:
        found = []
        for instruction in self.instructions:
            if instruction.keyword == "COPY":
                flags, rest = instruction.flags_and_rest()
                if "from" in flags:
                    *sources, dest = _copy_args(rest)
                    found.extend(CopyFromStage(flags["from"], s, dest) for s in sources)
        return found

    def lock(self) -> Path:
        """The lock installed into the venv this target copies from a deps stage (`COPY <lock> ...` there)."""
        venvs = [c for c in self.copies_from_stages() if c.source == self.env.get("VIRTUAL_ENV", "/opt/venv")]
        if len(venvs) != 1:
            raise ValueError(f"target {self.name} copies {len(venvs)} venvs; expected exactly one")
        deps = Target.load(self.dockerfile, self.context, venvs[0].stage)
        locks = [
            source
            for i in deps.instructions
            if i.keyword == "COPY" and "from" not in i.flags_and_rest()[0]
            for source in _copy_args(i.flags_and_rest()[1])[:-1]
            if source.endswith(".lock")
        ]
        if len(locks) != 1:
            raise ValueError(f"stage {deps.name} copies {locks}; expected exactly one lock")
        if not any("uv pip sync" in run and "--require-hashes" in run for run in deps.runs):
            raise ValueError(f"stage {deps.name} does not install its lock with `uv pip sync --require-hashes`")
        return self.context / locks[0]

    def lay_out(self, root: Path, stage_files: dict[str, Path] | None = None) -> list[str]:
        """Write the target's /app tree (its WORKDIR) into `root`, exactly as its COPY lines say.

        Files copied from the context honour the .dockerignore. `stage_files` maps a build stage to the local
        directory standing in for its WORKDIR (the model stage -> the repository, whose models/current.tar.gz
        `make model` trains the same way); the venv is not laid out here (see `lock()`). Returns the paths
        written, relative to `root`. Refuses RUN lines other than user/directory creation (the tree would
        not be the image then) and COPY destinations outside the WORKDIR.
        """
        ignore = DockerIgnore(self.dockerfile, self.context)
        venv = self.env.get("VIRTUAL_ENV", "/opt/venv")
        written: list[str] = []
        workdir = "/"
        for instruction in self.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = instruction.args
            elif instruction.keyword == "RUN":
                for command in re.split(r"\s*&&\s*", instruction.args):
                    if not HARMLESS_RUN.match(command.strip()):
                        raise ValueError(f"line {instruction.line}: RUN {command!r} in target {self.name}'s chain")
                    if command.strip().startswith("mkdir"):
                        for path in command.split()[1:]:
                            if not path.startswith("-"):
                                (root / self._inside(path, workdir, instruction)).mkdir(parents=True, exist_ok=True)
            elif instruction.keyword in ("COPY", "ADD"):
                if instruction.keyword == "ADD":
                    raise ValueError(f"line {instruction.line}: use COPY, not ADD")
                flags, rest = instruction.flags_and_rest()
                *sources, dest = _copy_args(rest)
                if flags.get("from"):
                    if sources == [venv]:
                        continue  # the venv: built from the deps stage's lock
                    stage = flags["from"]
                    if not stage_files or stage not in stage_files:
                        raise ValueError(f"line {instruction.line}: nothing stands in for stage {stage!r}")
                    stage_workdir = Target.load(self.dockerfile, self.context, stage).workdir
                    for source in sources:
                        local = stage_files[stage] / self._inside(source, stage_workdir, instruction)
                        written += self._copy(local, Path(local.name), root, dest, workdir, instruction, None,
                                              several=len(sources) > 1)
                    continue
                for source in sources:
                    matches = sorted(self.context.glob(source.rstrip("/"))) if any(c in source for c in "*?[") \
                        else [self.context / source.rstrip("/")]
                    if not matches or not all(m.exists() for m in matches):
                        raise FileNotFoundError(f"line {instruction.line}: COPY source {source} not in the context")
                    for match in matches:
                        relative = match.relative_to(self.context)
                        if ignore.excluded(relative.as_posix()):
                            raise FileNotFoundError(
                                f"line {instruction.line}: COPY source {source} is excluded by {ignore.source}")
                        written += self._copy(match, relative, root, dest, workdir, instruction, ignore,
                                              several=len(sources) > 1 or len(matches) > 1)
        return written

    def _inside(self, path: str, workdir: str, instruction: Instruction) -> Path:
        """`path` (absolute, or relative to `workdir`) relative to the WORKDIR the tree stands for."""
        absolute = path if path.startswith("/") else f"{workdir.rstrip('/')}/{path}"
        if not (absolute + "/").startswith(workdir.rstrip("/") + "/"):
            raise ValueError(f"line {instruction.line}: {path} is outside {workdir}")
        return Path(absolute[len(workdir.rstrip("/")) + 1 :] or ".")

    def _copy(self, source: Path, relative: Path, root: Path, dest: str, workdir: str,
              instruction: Instruction, ignore: DockerIgnore | None, several: bool) -> list[str]:
        target_dir = dest.endswith("/") or several or source.is_dir()
        base = root / self._inside(dest, workdir, instruction)
        written = []
        if source.is_dir():
            for path in sorted(source.rglob("*")):
                rel_in_context = relative / path.relative_to(source)
                if path.is_dir() or (ignore and ignore.excluded(rel_in_context.as_posix())):
                    continue
                out = base / path.relative_to(source)
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(path.read_bytes())
                written.append(out.relative_to(root).as_posix())
        else:
            out = base / source.name if target_dir else base
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(source.read_bytes())
            written.append(out.relative_to(root).as_posix())
        return written


def _copy_args(rest: str) -> list[str]:
    return list(json.loads(rest)) if rest.startswith("[") else rest.split()


def targets(dockerfile: Path) -> list[str]:
    """Every stage that ends in a CMD: the images one can run."""
    _, stages = parse(dockerfile)
    return [s.name for s in stages if s.all("CMD")]
