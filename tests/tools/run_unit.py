#!/usr/bin/env python3
"""Runs an installed systemd service's ExecStart as systemd would, without systemd, for the
deploy tests (tests/cli/deploy_*.sh): what the unit and its drop-ins say, read from a root
that deploy/install-*.sh installed into.

    run_unit.py ROOT UNIT [--instance I] [--creds DIR] [--set K=V]... [--map FROM=TO]...

UNIT is a unit name (evcs-api@.service with --instance 1 for evcs-api@1.service); its file
and drop-ins are read from ROOT/etc/systemd/system. Done as systemd does: each
LoadCredential=ID:PATH is copied from ROOT/PATH to DIR/ID (mode 0400; a missing file is an
error, as it fails the unit), CREDENTIALS_DIRECTORY is DIR, %d is DIR and %i the instance;
Environment= is set, then EnvironmentFile= (ROOT/PATH; "-" optional) overrides it; then
ExecStart's ${VAR} (one word) and $VAR (split on blanks) are expanded, and each
ExecStartPre= is run first. A unit not in the root is this machine's own (a package's, as
Debian's rabbitmq-server.service), with the root's drop-ins. Then the test's own:
--set overrides a variable (after the files), and --map replaces a path prefix in the
command line and the environment (/usr/local=ROOT/usr/local, ...); --keep-env starts from
this process's environment instead of an empty one (PATH only). The service runs with the
test's user and this process's id (exec). --print only prints the command line.
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys


def unit_lines(root, unit, instance):
    """The [Service] and [Unit] KEY=VALUE pairs of the unit file, then of its drop-ins."""
    folder = os.path.join(root, "etc/systemd/system")
    instance_name = unit.replace("@.", f"@{instance}.") if instance else unit
    # A unit of ours is in the root; a package's (Debian's rabbitmq-server.service) is this
    # machine's, with the root's drop-ins.
    files = [next((f for f in (os.path.join(folder, unit), f"/lib/systemd/system/{unit}",
                               f"/usr/lib/systemd/system/{unit}") if os.path.exists(f)),
                  os.path.join(folder, unit))]
    for dropins in sorted({f"{unit}.d", f"{instance_name}.d"}):
        d = os.path.join(folder, dropins)
        if os.path.isdir(d):
            files += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".conf")]
    pairs = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line or line[0] in "#;[":
                    continue
                key, _, value = line.partition("=")
                pairs.append((key.strip(), value.strip()))
    return pairs


def env_file(path):
    values = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            key, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            values[key.strip()] = value
    return values


def expand_word(word, env):
    if word.startswith("${") and word.endswith("}") and word.count("$") == 1:
        return [env.get(word[2:-1], "")]
    if word.startswith("$") and not word.startswith("${") and word[1:].isidentifier():
        return env.get(word[1:], "").split()
    out, i = "", 0
    while i < len(word):
        if word.startswith("${", i) and "}" in word[i:]:
            end = word.index("}", i)
            out += env.get(word[i + 2:end], "")
            i = end + 1
        else:
            out += word[i]
            i += 1
    return [out]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("unit")
    p.add_argument("--instance", default="")
    p.add_argument("--creds")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--map", action="append", default=[])
    p.add_argument("--keep-env", action="store_true")
    p.add_argument("--print", action="store_true")
    a = p.parse_args()

    creds = a.creds or os.path.join(os.environ.get("TMPDIR", "/tmp"), f"creds-{os.getpid()}")

    def specifiers(text):
        return text.replace("%d", creds).replace("%i", a.instance).replace("%%", "%")

    env = dict(os.environ) if a.keep_env else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env["CREDENTIALS_DIRECTORY"] = creds
    files, exec_start, exec_pre = [], None, []
    os.makedirs(creds, mode=0o700, exist_ok=True)
    for key, value in unit_lines(a.root, a.unit, a.instance):
        value = specifiers(value)
        if key == "Environment":
            for assignment in shlex.split(value):
                k, _, v = assignment.partition("=")
                env[k] = v
        elif key == "EnvironmentFile":
            files.append(value)
        elif key == "LoadCredential":
            ident, _, path = value.partition(":")
            to = os.path.join(creds, ident)
            shutil.copyfile(a.root + path, to)  # a missing file fails the unit under systemd too
            os.chmod(to, 0o400)
        elif key == "ExecStart":
            exec_start = value
        elif key == "ExecStartPre":
            exec_pre.append(value)
    for path in files:
        optional = path.startswith("-")
        path = a.root + path.lstrip("-")
        if optional and not os.path.exists(path):
            continue
        env.update(env_file(path))
    for assignment in a.set:
        k, _, v = assignment.partition("=")
        env[k] = v
    if exec_start is None:
        sys.exit(f"run_unit: {a.unit} has no ExecStart")

    def mapped(text):
        for m in a.map:
            old, _, new = m.partition("=")
            text = text.replace(old, new)
        return text

    def command(line):
        return [mapped(w) for word in shlex.split(line) for w in expand_word(word, env)]

    argv = command(exec_start)
    env = {k: mapped(v) for k, v in env.items()}
    if a.print:
        print(shlex.join(argv))
        return
    for line in exec_pre:
        pre = command(line)
        if subprocess.run(pre, env=env, check=False).returncode != 0:
            sys.exit(f"run_unit: ExecStartPre failed: {shlex.join(pre)}")
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
