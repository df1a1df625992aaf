#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Test of libgreen's gdb extension: runs gdb_target under `gdb -batch` with the extension
# *auto-loaded* from beside the built library (not sourced), and checks what
# "info greenlets" and "greenlet bt" show against what gdb_target says it left behind.
#
# Usage: run_gdb.py GDB GDB_TARGET LIBRARY_DIR
import difflib
import re
import subprocess
import sys

SKIP = 77  # meson's "skipped"


def run_standalone(target):
    """gdb_target without gdb: its description of the greenlets it leaves suspended."""
    proc = subprocess.run([target], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=60)
    if proc.returncode != 0:
        sys.exit("gdb_target failed on its own (status %d):\n%s" % (proc.returncode, proc.stdout))
    greenlets, parked, ids = [], {}, {}
    for line in proc.stdout.splitlines():
        w = line.split()
        if w[0] == "greenlet":
            thread, gid, state, model, parent, name = w[1:]
            greenlets.append(dict(thread=int(thread), id=int(gid), state=state, model=model,
                                  parent=parent, name=name))
        elif w[0] == "parked":
            parked[int(w[1])] = dict(function=w[2], run=w[3], slice=w[4])
        elif w[0] in ("main", "dead", "new"):
            ids[w[0]] = int(w[1])
    return greenlets, parked, ids


def gdb_session(gdb, target, libdir, greenlets, parked, ids):
    """Run gdb on gdb_target; its output split into sections by the markers we echo."""
    cmds = []

    def section(name, *commands):
        cmds.extend(["echo @@@ %s\\n" % name] + list(commands))

    cmds += ["break gdb_checkpoint", "run"]
    section("autoload", "info auto-load python-scripts")
    section("regs-before", "info registers")
    section("info 1", "info greenlets")
    section("help", "help info greenlets", "help greenlet bt")
    for g in greenlets:
        if g["thread"] == 1 and g["id"] in parked:
            section("bt %d" % g["id"], "greenlet bt %d" % g["id"])
    section("bt full", "greenlet bt %d full 1" % min(parked))
    section("bt dead", "greenlet bt %d" % ids["dead"])
    section("bt new", "greenlet bt %d" % ids["new"])
    section("bt main", "greenlet bt %d" % ids["main"])
    section("bt unknown", "greenlet bt 999999")
    section("regs-after", "info registers")
    section("thread 2", "thread 2")
    section("info 2", "info greenlets")
    for g in greenlets:
        if g["thread"] == 2 and g["id"] in parked:
            section("bt %d" % g["id"], "greenlet bt %d" % g["id"])
    section("thread 3", "thread 3")
    section("info 3", "info greenlets")
    section("thread 4", "thread 4")
    section("info 4", "info greenlets")
    for g in greenlets:
        if g["thread"] == 4 and g["id"] in parked:
            section("bt %d" % g["id"], "greenlet bt %d" % g["id"])
    section("thread 1", "thread 1")
    # Resumed, main starts the unstarted greenlet: stop in it, main is suspended now.
    section("to new", "break unstarted_run", "continue")
    section("info new", "info greenlets")
    section("bt main suspended", "greenlet bt %d" % ids["main"])
    section("continue", "continue")

    argv = [gdb, "-nx", "-batch",
            # Only the build tree's copy may be auto-loaded: that is what is tested.
            "-iex", "set auto-load safe-path " + libdir,
            "-iex", "set debuginfod enabled off",
            "-iex", "set width 0"]
    for c in cmds:
        argv += ["-ex", c]
    argv += [target]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, universal_newlines=True, timeout=300)
    out = proc.stdout
    if "ptrace: Operation not permitted" in out:
        print("gdb cannot ptrace here; skipping\n" + out)
        sys.exit(SKIP)
    sections, name = {"": []}, ""
    for line in out.splitlines():
        if line.startswith("@@@ "):
            name = line[4:]
            sections[name] = []
        else:
            sections[name].append(line)
    return out, {k: "\n".join(v) for k, v in sections.items()}


ROW = re.compile(r'^([* ])\s+(\d+)\s+(\w+)\s+(\w+)\s+(\S+)\s+("[^"]*"|-)\s+(.*)$')


def check(greenlets, parked, ids, sections, libdir):
    errors = []

    def expect(cond, what):
        if not cond:
            errors.append(what)

    auto = sections.get("autoload", "")
    expect(re.search(r"^Yes\s+%s/libgreen\.so\.[0-9.]+-gdb\.py\s*$" % re.escape(libdir), auto, re.M),
           "the extension was not auto-loaded from beside the library:\n" + auto)

    help_text = sections.get("help", "")
    expect("List the greenlets of the selected thread." in help_text, "help info greenlets")
    expect("Show the backtrace of a suspended greenlet" in help_text, "help greenlet bt")

    for thread in (1, 2, 4):
        text = sections.get("info %d" % thread, "")
        rows = {}
        for line in text.splitlines():
            m = ROW.match(line)
            if m and m.group(2) != "Id":
                rows[int(m.group(2))] = m.groups()
        want = [g for g in greenlets if g["thread"] == thread]
        expect(len(rows) == len(want),
               "thread %d: info greenlets lists %d greenlets, not %d:\n%s"
               % (thread, len(rows), len(want), text))
        for g in want:
            row = rows.get(g["id"])
            if row is None:
                errors.append("thread %d: greenlet %d not listed:\n%s" % (thread, g["id"], text))
                continue
            mark, _, state, model, parent, name, frame = row
            got = (mark == "*", state, model, parent, name.strip('"'))
            exp = (g["state"] == "running", g["state"], g["model"], g["parent"], g["name"])
            expect(got == exp, "thread %d: greenlet %d listed as %s, expected %s"
                   % (thread, g["id"], got, exp))
            if g["id"] in parked:
                expect(frame.startswith("in %s " % parked[g["id"]]["function"]),
                       "greenlet %d: Frame column %r" % (g["id"], frame))
            if g["state"] == "new":
                expect(frame.startswith("will run unstarted_run "),
                       "greenlet %d: Frame column %r" % (g["id"], frame))

    for gid, p in parked.items():
        text = sections.get("bt %d" % gid, "")
        lines = text.splitlines()
        frames = [l for l in lines if l.startswith("#")]
        expect(lines and lines[0].startswith("Greenlet %d " % gid),
               "greenlet bt %d: no header:\n%s" % (gid, text))
        expect(frames and re.match(r"#0\s+0x[0-9a-f]+ in %s \(" % p["function"], frames[0]),
               "greenlet bt %d: frame #0 is not %s:\n%s" % (gid, p["function"], text))
        expect(any(" in %s (" % p["run"] in f for f in frames),
               "greenlet bt %d: run function %s missing:\n%s" % (gid, p["run"], text))
        expect(not re.search(r"gdb_checkpoint|\bmain \(|Backtrace stopped|0x0+ in \?\?", text),
               "greenlet bt %d: frames that are not the greenlet's:\n%s" % (gid, text))
        heap = re.search(r"(\d+) of its (\d+) stack bytes in the heap", lines[0] if lines else "")
        if p["slice"] == "heap":
            expect(heap and heap.group(1) == heap.group(2),
                   "greenlet bt %d: expected its whole stack in the heap:\n%s" % (gid, text))
        elif p["slice"] == "split":
            expect(heap and 0 < int(heap.group(1)) < int(heap.group(2)),
                   "greenlet bt %d: expected part of its stack in the heap:\n%s" % (gid, text))
        else:
            expect(heap is None, "greenlet bt %d: expected no heap slice:\n%s" % (gid, text))

    full = sections.get("bt full", "")
    expect(len(re.findall(r"^#", full, re.M)) == 1 and "buf = " in full
           and "(More stack frames follow...)" in full,
           "greenlet bt ID full 1: expected one frame with its locals:\n" + full)
    for what, needle in (("dead", "is dead"), ("new", "has not started"),
                         ("main", "is running on this thread"), ("unknown", "No greenlet 999999")):
        text = sections.get("bt " + what, "")
        expect(needle in text and "#0" not in text and "Traceback" not in text,
               "greenlet bt of the %s greenlet: %r" % (what, text))
    expect("No greenlets on this thread" in sections.get("info 3", ""),
           "thread without libgreen: " + sections.get("info 3", ""))

    # Stopped in the greenlet that was new: it runs (on the shared stack), main is parked.
    rows = {int(m.group(2)): m.groups() for m in
            (ROW.match(l) for l in sections.get("info new", "").splitlines()) if m and m.group(2) != "Id"}
    expect(rows.get(ids["new"], ())[:3] == ("*", str(ids["new"]), "running")
           and rows.get(ids["main"], ())[:3] == (" ", str(ids["main"]), "suspended"),
           "in the started greenlet: " + sections.get("info new", ""))
    text = sections.get("bt main suspended", "")
    frames = [l for l in text.splitlines() if l.startswith("#")]
    expect(frames and re.match(r"#0\s+0x[0-9a-f]+ in main \(", frames[0])
           and "unstarted_run" not in text,
           "greenlet bt of the suspended main greenlet:\n" + text)

    before, after = sections.get("regs-before"), sections.get("regs-after")
    diff = "\n".join(difflib.unified_diff((before or "").splitlines(), (after or "").splitlines(),
                                         "before", "after", lineterm=""))
    expect(before and not diff, "registers changed:\n" + diff)
    cont = sections.get("continue", "")
    expect("all greenlets resumed correctly" in cont and "exited normally" in cont,
           "the program did not finish correctly after gdb looked:\n" + cont)
    expect("Python Exception" not in "\n".join(sections.values()), "a Python exception")
    return errors


def main():
    gdb, target, libdir = sys.argv[1:4]
    greenlets, parked, ids = run_standalone(target)
    out, sections = gdb_session(gdb, target, libdir, greenlets, parked, ids)
    errors = check(greenlets, parked, ids, sections, libdir)
    print(out)
    if errors:
        print("\nFAILED:\n- " + "\n- ".join(errors))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
