#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# Turn our overlay files and patch series into a git history on top of the
# pristine base (harness/patchset/NN-*.txt say what goes into which commit)
# and write it out with "git format-patch" and a cover letter.
#
# usage: patchset.py TOP GIT_DIR BASE_COMMIT BASE_TREE_DIR OUTDIR
#   GIT_DIR holds BASE_COMMIT, the base tree (BASE_TREE_DIR) committed.
#   Leaves branch "p2pdma" in GIT_DIR and the patches in OUTDIR.
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap

KERNEL_DIRS = ["drivers", "include", "Documentation", "tools", "lib", "mm",
               "kernel", "block", "arch"]
AUTHOR = ("p2pdma authors", "p2pdma@example.org")


def die(msg):
    print(f"patchset: {msg}", file=sys.stderr)
    sys.exit(1)


def git(args, git_dir, env=None, inp=None):
    e = dict(os.environ)
    e["GIT_DIR"] = git_dir
    if env:
        e.update(env)
    r = subprocess.run(["git"] + args, env=e, input=inp, capture_output=True)
    if r.returncode:
        die(f"git {' '.join(args)}: {r.stderr.decode().strip()}")
    return r.stdout


def read_steps(top):
    d = os.path.join(top, "harness", "patchset")
    steps = []
    for name in sorted(os.listdir(d)):
        if not re.match(r"^\d\d-.*\.txt$", name):
            continue
        text = open(os.path.join(d, name)).read()
        head, _, body = text.partition("\n\n")
        s = {"name": name, "files": [], "series": [], "subject": None,
             "message": None, "body": body.strip() + "\n"}
        for line in head.splitlines():
            key, _, val = line.partition(":")
            val = val.strip()
            if key == "Subject":
                s["subject"] = val
            elif key == "Files":
                s["files"] = val.split()
            elif key == "Series":
                s["series"] = val.split()
            elif key == "Message":
                s["message"] = val
            else:
                die(f"{name}: unknown header '{key}'")
        if not s["subject"] and not s["message"]:
            die(f"{name}: needs a Subject or a Message")
        steps.append(s)
    return steps


def parse_patch(path):
    """{file: [hunk, ...]}, a hunk being its list of lines ('+x', '-x', ' x')."""
    files = {}
    lines = open(path).read().split("\n")
    i = 0
    cur = None
    while i < len(lines):
        line = lines[i]
        i += 1
        m = re.match(r"\+\+\+ b/(\S+)", line)
        if m:
            cur = files.setdefault(m.group(1), [])
            continue
        m = re.match(r"@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@", line)
        if not m or cur is None:
            continue
        old = int(m.group(1) or 1)
        new = int(m.group(2) or 1)
        hunk = []
        while old > 0 or new > 0:
            line = lines[i] if i < len(lines) else ""
            i += 1
            if line.startswith("\\"):
                continue
            line = line or " "
            if line[0] in " -":
                old -= 1
            if line[0] in " +":
                new -= 1
            hunk.append(line)
        cur.append(hunk)
    return files


def patch_message(path):
    text = open(path).read()
    m = re.search(r"^Subject: (?:\[PATCH[^\]]*\] )?(.*)$", text, re.M)
    if not m:
        die(f"{path}: no Subject")
    body = text.split("\n\n", 1)[1].split("\n---\n", 1)[0]
    return m.group(1), body.strip() + "\n"


def remove_block(content, block, what):
    """Take the lines of BLOCK, which must occur exactly once, out of CONTENT."""
    lines = content.split("\n")
    n = len(block)
    at = [i for i in range(len(lines) - n + 1) if lines[i:i + n] == block]
    if len(at) != 1:
        die(f"{what}: the lines it adds occur {len(at)} times in the final file; "
            "cannot take them out for an earlier step")
    del lines[at[0]:at[0] + n]
    return "\n".join(lines)


def main():
    top, git_dir, base_commit, base_dir, outdir = sys.argv[1:6]
    steps = read_steps(top)

    series = [p for p in open(os.path.join(top, "patches", "series")).read().split()
              if not p.startswith("#")]
    by_num = {p[:4]: p for p in series}
    parsed = {p: parse_patch(os.path.join(top, "patches", p)) for p in series}

    # Every file we own and every patch (file by file) in exactly one step.
    owned = subprocess.run(["git", "-C", top, "ls-files", "--"] + KERNEL_DIRS,
                           capture_output=True, text=True, check=True).stdout.split()
    owner = {}
    for i, s in enumerate(steps):
        for spec in s["files"]:
            hits = [f for f in owned if f == spec or (spec.endswith("/") and f.startswith(spec))]
            if not hits:
                die(f"{s['name']}: '{spec}' names no file of ours")
            for f in hits:
                if f in owner:
                    die(f"{f} is in both {steps[owner[f]]['name']} and {s['name']}")
                owner[f] = i
    missing = [f for f in owned if f not in owner]
    if missing:
        die("files in no step of harness/patchset/: " + " ".join(missing))

    taken = {}  # (patch, file) -> step index
    for i, s in enumerate(steps):
        for spec in s["series"]:
            num, _, only = spec.partition(":")
            if num not in by_num:
                die(f"{s['name']}: no patch {num} in patches/series")
            p = by_num[num]
            files = [only] if only else list(parsed[p])
            for f in files:
                if f not in parsed[p]:
                    die(f"{s['name']}: {p} does not touch {f}")
                if (p, f) in taken:
                    die(f"{p} ({f}) is in two steps")
                taken[(p, f)] = i
    for p in series:
        for f in parsed[p]:
            if (p, f) not in taken:
                die(f"{p} ({f}) is in no step of harness/patchset/")
    for (p, f) in taken:
        if f in owner:
            die(f"{f} is both a file of ours and patched by {p}: not supported")

    # The series' final state of every patched file, as prepare.sh makes it.
    scratch = tempfile.mkdtemp()
    try:
        patched = sorted({f for p in series for f in parsed[p]})
        for f in patched:
            os.makedirs(os.path.dirname(os.path.join(scratch, f)), exist_ok=True)
            src = os.path.join(base_dir, f)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(scratch, f))
        for p in series:
            r = subprocess.run(["patch", "-s", "-p1", "-d", scratch, "--no-backup-if-mismatch",
                                "-i", os.path.join(top, "patches", p)], capture_output=True, text=True)
            if r.returncode:
                die(f"{p} does not apply to the base: {r.stdout}{r.stderr}")
        final = {f: open(os.path.join(scratch, f)).read() for f in patched}
    finally:
        shutil.rmtree(scratch)

    def state(f, k):
        """File F as of step K: None if unchanged from the base."""
        mine = [p for p in series if f in parsed[p]]
        if not any(taken[(p, f)] <= k for p in mine):
            return None
        content = final[f]
        for p in mine:
            if taken[(p, f)] <= k:
                continue
            for hunk in parsed[p][f]:
                if any(line.startswith("-") for line in hunk):
                    die(f"{p} changes lines of {f} but comes after a step that needs {f}; "
                        "reorder harness/patchset/")
                block = []
                for line in hunk + [" "]:
                    if line.startswith("+"):
                        block.append(line[1:])
                    elif block:
                        content = remove_block(content, block, f"{p} ({f})")
                        block = []
        return content

    # The commits, on a temporary index: no checkout of the base needed.
    date = subprocess.run(["git", "-C", top, "log", "-1", "--format=%cI"],
                          capture_output=True, text=True).stdout.strip() or "2026-01-01T00:00:00Z"
    env = {"GIT_AUTHOR_NAME": AUTHOR[0], "GIT_AUTHOR_EMAIL": AUTHOR[1],
           "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
           "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    modes = {}
    for line in subprocess.run(["git", "-C", top, "ls-files", "-s", "--"] + KERNEL_DIRS,
                               capture_output=True, text=True, check=True).stdout.splitlines():
        meta, path = line.split("\t", 1)
        modes[path] = meta.split()[0]
    base_modes = {}
    if patched:
        for line in git(["ls-tree", base_commit, "--"] + patched, git_dir).decode().splitlines():
            meta, path = line.split("\t", 1)
            base_modes[path] = meta.split()[0]

    with tempfile.TemporaryDirectory() as tmp:
        ienv = dict(env, GIT_INDEX_FILE=os.path.join(tmp, "index"))
        git(["read-tree", base_commit], git_dir, ienv)
        parent = base_commit
        for k, s in enumerate(steps):
            changed = [f for f in owned if owner[f] == k]
            for f in changed:
                blob = git(["hash-object", "-w", "--", os.path.join(top, f)], git_dir).decode().strip()
                git(["update-index", "--add", "--cacheinfo", f"{modes[f]},{blob},{f}"], git_dir, ienv)
            for f in patched:
                now, before = state(f, k), state(f, k - 1)
                if now is None or now == before:
                    continue
                blob = git(["hash-object", "-w", "--stdin"], git_dir, inp=now.encode()).decode().strip()
                git(["update-index", "--add", "--cacheinfo",
                     f"{base_modes.get(f, '100644')},{blob},{f}"], git_dir, ienv)
            tree = git(["write-tree"], git_dir, ienv).decode().strip()
            if s["message"]:
                subject, body = patch_message(os.path.join(top, "patches", by_num[s["message"]]))
            else:
                subject, body = s["subject"], s["body"]
            parent = git(["commit-tree", tree, "-p", parent], git_dir, env,
                         inp=f"{subject}\n\n{body}".encode()).decode().strip()
        git(["update-ref", "refs/heads/p2pdma", parent], git_dir)

    # The series and its cover letter.
    shutil.rmtree(outdir, ignore_errors=True)
    git(["-c", "core.abbrev=12", "format-patch", "-q", "--cover-letter", "--base", base_commit,
         "-o", outdir, f"{base_commit}..p2pdma"], git_dir, env)
    cover_path = os.path.join(outdir, "0000-cover-letter.patch")
    subject, _, blurb = open(os.path.join(top, "harness", "patchset", "cover.txt")).read().partition("\n\n")
    ver = open(os.path.join(os.environ.get("OUT", os.path.join(top, "out")), "base-version")).read().strip() \
        if os.path.exists(os.path.join(os.environ.get("OUT", os.path.join(top, "out")), "base-version")) else "6.12"
    deb = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "linux-source-6.12"],
                         capture_output=True, text=True).stdout.strip()
    tree = git(["rev-parse", base_commit + "^{tree}"], git_dir).decode().strip()
    blurb = blurb.strip() + "\n\n" + textwrap.fill(
        f"Based on Linux {ver} as Debian's linux-source-6.12 ({deb}) ships it; "
        f"the base-commit below is that tree (git tree {tree}) as "
        "\"make patchset\" commits it.", 72) + "\n"
    cover = open(cover_path).read()
    cover = cover.replace("*** SUBJECT HERE ***", subject.strip())
    cover = cover.replace("*** BLURB HERE ***", blurb.strip())
    open(cover_path, "w").write(cover)


if __name__ == "__main__":
    main()
