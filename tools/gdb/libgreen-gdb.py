# SPDX-License-Identifier: MIT
# libgreen's gdb extension: "info greenlets" and "greenlet bt ID".
#
# gdb only knows the stack of each thread's running context; a suspended greenlet's frames
# sit on its own stack (or, for a shared one, partly in the heap) where gdb never looks.
# This script finds the greenlet records through the thread's libgreen state and shows a
# suspended greenlet's backtrace from the frame its context switch saved.  It is installed
# as <library>-gdb.py where gdb auto-loads it; see docs/gdb.md.

import re

import gdb
import gdb.unwinder

# ---- What this script knows about libgreen's internals ----------------------------------
#
# Everything read from the library is named here and nowhere else: when the internal
# layout changes, this table changes with it.  Field paths are dotted, from the struct
# named in the comment.

TLS_VARIABLE = "green__tls"  # struct green_thread *, _Thread_local, NULL until first use

THREAD_FIELDS = {  # struct green_thread (src/core/thread.h)
    "current": "core.current",  # struct green *: the running greenlet
    "main": "core.main",  # struct green, embedded: the thread's main greenlet
    "slabs": "records.slabs",  # struct slab *: every other greenlet record lives in these
}

SLAB_FIELDS = {  # struct slab (src/core/records.c)
    "next": "next",
    "slots": "slot",  # struct green[SLAB_SLOTS]; a slot with state GS_FREE is unused
}
SLAB_SLOTS = 1024  # used only if struct slab has no debug information

GREEN_FIELDS = {  # struct green (src/core/greenlet.h)
    "state": "state",
    "flags": "flags",
    "id": "id",
    "name": "name",
    "parent": "parent",
    "run": "run",  # meaningful until the greenlet starts
    "stack_start": "stack_start",  # saved stack pointer while suspended
    "stack_stop": "stack_stop",  # top of its stack data
    "stack_copy": "stack_copy",  # shared: heap copy of the lowest stack_saved bytes
    "stack_saved": "stack_saved",
}

# Enumerators, read from the debug information when it has them.
CONSTANTS = {
    "GS_FREE": 0,
    "GS_NEW": 1,
    "GS_ACTIVE": 2,
    "GS_DEAD": 3,
    "GF_MAIN": 0x1,
    "GF_SHARED": 0x2,
}

# The frame green_arch_switch leaves at a suspended greenlet's saved stack pointer
# (src/arch/*.S): the offset of the resume address, the stack pointer once the frame is
# popped, and the offsets of the callee-saved registers.  Keyed by gdb's architecture name.
SWITCH_FRAMES = {
    "i386:x86-64": {
        "pc": ("rip", 64),
        "sp": ("rsp", 72),
        "regs": {"r15": 8, "r14": 16, "r13": 24, "r12": 32, "rbx": 40, "rbp": 48},
    },
    "aarch64": {
        "pc": ("pc", 168),
        "sp": ("sp", 192),
        "regs": dict([("x%d" % (19 + i), 8 * i) for i in range(12)]),  # x19..x30
    },
    "riscv:rv64": {
        "pc": ("pc", 208),
        "sp": ("sp", 224),
        "regs": dict([("ra", 0), ("fp", 8)] + [("s%d" % i, 8 + 8 * i) for i in range(1, 12)]),
    },
}

# With -Dswitch=portable a suspended context is a ucontext_t, which this script does not
# read; that build is recognised by where green_arch_switch is defined.
PORTABLE_SWITCH_FILE = "portable_ucontext.c"


# ---- Reading the inferior ----------------------------------------------------------------


def field(value, path, table):
    """value.<path> for a dotted path from table, dereferencing pointers on the way."""
    for name in table[path].split("."):
        if value.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
            value = value.dereference()
        value = value[name]
    return value


def constant(name):
    try:
        return int(gdb.parse_and_eval(name))
    except gdb.error:
        return CONSTANTS[name]


def read_word(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return int.from_bytes(bytes(mem), "little")


def describe_pc(pc, caller=True):
    """'FUNCTION at FILE:LINE' for a code address; caller: pc is a return address."""
    look = pc - 1 if caller else pc
    name = None
    block = None
    try:
        block = gdb.block_for_pc(look)
    except RuntimeError:
        pass
    while block is not None and block.function is None:
        block = block.superblock
    if block is not None:
        name = block.function.print_name
    else:
        text = gdb.execute("info symbol 0x%x" % look, to_string=True)
        if not text.startswith("No symbol"):
            name = text.split(" in section")[0].split(" + ")[0].strip()
    if name is None:
        return "0x%x" % pc
    sal = gdb.find_pc_line(look)
    if sal.symtab is not None:
        return "%s at %s:%d" % (name, sal.symtab.filename, sal.line)
    return name


class Greenlet:
    """One greenlet record of the selected thread, as read from the inferior."""

    def __init__(self, record, current_addr):
        self.record = record  # gdb.Value: struct green *
        self.addr = int(record)
        self.id = int(self.get("id"))
        flags = int(self.get("flags"))
        self.is_main = bool(flags & constant("GF_MAIN"))
        self.is_shared = bool(flags & constant("GF_SHARED"))
        self.model = "thread" if self.is_main else "shared" if self.is_shared else "private"
        state = int(self.get("state"))
        if state == constant("GS_NEW"):
            self.state = "new"
        elif state == constant("GS_DEAD"):
            self.state = "dead"
        elif self.addr == current_addr:
            self.state = "running"
        else:
            self.state = "suspended"
        name = self.get("name")
        self.name = name.string() if int(name) else ("main" if self.is_main else None)
        parent = self.get("parent")
        self.parent_id = int(field(parent, "id", GREEN_FIELDS)) if int(parent) else None

    def get(self, path):
        return field(self.record, path, GREEN_FIELDS)

    def label(self):
        return '%d "%s"' % (self.id, self.name) if self.name else "%d" % self.id

    # A shared greenlet's lowest stack_saved bytes, from its saved stack pointer up, are in
    # the heap at stack_copy; the rest of its stack is still in the shared region.
    def heap_slice(self):
        if not self.is_shared:
            return 0, 0
        return int(self.get("stack_copy")), int(self.get("stack_saved"))

    def saved_word(self, offset):
        """A word of the saved switch frame, from the heap copy if it was moved there."""
        start = int(self.get("stack_start"))
        copy, saved = self.heap_slice()
        if offset + 8 <= saved:
            return read_word(copy + offset)
        return read_word(start + offset)

    def resume_pc(self, layout):
        return self.saved_word(layout["pc"][1])

    def where(self, layout):
        """The Frame column of info greenlets."""
        if self.state == "suspended" and layout is not None:
            try:
                pc = self.resume_pc(layout)
            except gdb.MemoryError:
                pc = 0
            return "in " + describe_pc(pc) if pc else "(saved frame not readable)"
        if self.state == "running":
            try:
                return "in " + describe_pc(gdb.newest_frame().pc(), caller=False)
            except gdb.error:
                return "-"
        if self.state == "new":
            return "will run " + describe_pc(int(self.get("run")), caller=False)
        return "-"


def thread_state():
    """The selected thread's struct green_thread * (non-NULL), or None."""
    try:
        ts = gdb.parse_and_eval(TLS_VARIABLE)
    except gdb.error as e:
        raise gdb.GdbError(
            "libgreen: cannot read %s in this thread: %s\n"
            "(is libgreen loaded, with debug information, and the thread library known to "
            "gdb?  See docs/gdb.md.)" % (TLS_VARIABLE, e)
        )
    return ts if int(ts) else None


def thread_greenlets(ts):
    """Every live greenlet record of the thread state ts: main first, then by id."""
    current = int(field(ts, "current", THREAD_FIELDS))
    main = field(ts, "main", THREAD_FIELDS).address
    records = []
    green_ptr = main.type
    size = green_ptr.target().sizeof
    state_offset = [f.bitpos // 8 for f in green_ptr.target().fields() if f.name == GREEN_FIELDS["state"]][0]
    free = constant("GS_FREE")
    inferior = gdb.selected_inferior()
    slab = field(ts, "slabs", THREAD_FIELDS)
    while int(slab):
        slots = field(slab, "slots", SLAB_FIELDS)
        try:
            count = slots.type.strip_typedefs().range()[1] + 1
        except gdb.error:
            count = SLAB_SLOTS
        first = slots.address.cast(green_ptr)
        # One read per slab: a slab holds a thousand records, most of them often free.
        mem = bytes(inferior.read_memory(int(first), count * size))
        for i in range(count):
            if mem[i * size + state_offset] != free:
                records.append(first + i)
        slab = field(slab, "next", SLAB_FIELDS)
    greenlets = [Greenlet(r, current) for r in records]
    greenlets.sort(key=lambda g: g.id)
    return [Greenlet(main, current)] + greenlets


def switch_layout():
    """The saved-frame layout for this program, or None if unknown (with the reason)."""
    try:
        sym = gdb.lookup_global_symbol("green_arch_switch")
        if sym is None:
            sym = gdb.lookup_static_symbol("green_arch_switch")
    except gdb.error:
        sym = None
    if sym is not None and sym.symtab is not None and sym.symtab.filename.endswith(PORTABLE_SWITCH_FILE):
        return None, "libgreen was built with the portable (ucontext) switch, whose saved contexts this script does not read"
    arch = gdb.selected_inferior().architecture().name()
    layout = SWITCH_FRAMES.get(arch)
    if layout is None:
        return None, "no saved-frame layout for architecture %s" % arch
    return layout, None


# ---- Backtraces of suspended greenlets -----------------------------------------------------


class _FrameId:
    # gdb 13 has no gdb.unwinder.FrameId; any object with sp and pc (gdb.Value) will do.
    def __init__(self, sp, pc):
        self.sp = sp
        self.pc = pc


class _SuspendedCaller(gdb.unwinder.Unwinder):
    """While "greenlet bt" runs: the thread's innermost real frame unwinds to the greenlet.

    gdb unwinds the thread's real frame 0 with this unwinder, which says that frame's
    caller has the registers saved in the greenlet's switch frame.  From there gdb's own
    unwinders walk the greenlet's stack, and "greenlet bt" prints everything above frame 0.
    The thread's registers are never written, so this works on core files too."""

    def __init__(self):
        super().__init__("libgreen greenlet bt")
        self.target = None  # (real pc, real sp, fake frame-0 sp, {register: value})

    def __call__(self, pending):
        if self.target is None:
            return None
        real_pc, real_sp, id_sp, regs = self.target
        pc_name, sp_name = regs["_pc"], regs["_sp"]
        if int(pending.read_register(pc_name)) != real_pc or int(pending.read_register(sp_name)) != real_sp:
            return None
        # Frame 0's id is placed just below the greenlet's stack: gdb refuses a caller frame
        # that looks inner to its callee, and the greenlet's stack may be anywhere.
        frame_id = _FrameId(pending.read_register(sp_name), pending.read_register(pc_name))
        frame_id.sp = gdb.Value(id_sp).cast(frame_id.sp.type)
        info = pending.create_unwind_info(frame_id)
        for reg, value in regs.items():
            if not reg.startswith("_"):
                info.add_saved_register(reg, gdb.Value(value).cast(pending.read_register(reg).type))
        return info


_unwinder = _SuspendedCaller()
gdb.unwinder.register_unwinder(None, _unwinder, replace=True)


def _selected_level():
    try:
        return gdb.selected_frame().level()
    except gdb.error:
        return 0


def _select_level(level):
    frame = gdb.newest_frame()
    for _ in range(level):
        older = frame.older()
        if older is None:
            break
        frame = older
    frame.select()


def _frames(text):
    """Split backtrace text into frames (lists of lines) and trailing lines."""
    frames, trailer = [], []
    for line in text.splitlines():
        if re.match(r"#\d+\s", line):
            frames.append([line])
        elif line.startswith(("Backtrace stopped", "(More stack frames")) or not frames:
            trailer.append(line)
        else:
            frames[-1].append(line)
    return frames, trailer


def _greenlet_frames(text, skip, count):
    """The backtrace text without the thread's own `skip` innermost frames, renumbered from
    0, limited to the innermost count (count > 0) or outermost -count (count < 0) frames."""
    frames, trailer = _frames(text)
    frames = frames[skip:]
    # A greenlet's stack ends in the null return address green_arch_init puts above the
    # first frame (arch.h).  gdb shows it as one more frame, at pc 0, and then fails to
    # unwind that; neither says anything about the greenlet.
    if frames and re.match(r"#\d+\s+0x0+ in \?\? \(\)", frames[-1][0]):
        frames.pop()
        trailer = [t for t in trailer if not t.startswith("Backtrace stopped")]
    more = False
    if count is not None and count > 0 and len(frames) > count:
        frames, more = frames[:count], True
    elif count is not None and count < 0:
        frames = frames[count:]
    out = []
    for frame in frames:
        m = re.match(r"#(\d+)\s+", frame[0])
        prefix = ("#%d" % (int(m.group(1)) - skip)).ljust(len(m.group(0)))
        out.append(prefix + frame[0][m.end():])
        out.extend(frame[1:])
    out.extend(trailer)
    if more:
        out.append("(More stack frames follow...)")
    return "\n".join(out) + "\n"


def greenlet_backtrace(g, layout, bt_args):
    """The text of g's backtrace (g suspended)."""
    inferior = gdb.selected_inferior()
    start = int(g.get("stack_start"))
    copy, saved = g.heap_slice()
    # The frame count applies to the greenlet's frames, so it is applied here.
    args, count = bt_args.split(), None
    if args and re.fullmatch(r"-?\d+", args[-1]):
        count = int(args.pop())

    regs = {"_pc": layout["pc"][0], "_sp": layout["sp"][0]}
    regs[layout["pc"][0]] = g.saved_word(layout["pc"][1])
    if regs[layout["pc"][0]] == 0:
        # Seen with cores written by gcore on kernels with guard markers in the stack
        # mappings: gdb fails to read the whole chunk and stores zeros (docs/gdb.md).
        raise gdb.GdbError("Greenlet %s: its saved frame at 0x%x reads as zeros; the stack "
                           "memory is not in this core file?" % (g.label(), start))
    regs[layout["sp"][0]] = start + layout["sp"][1]
    for reg, offset in layout["regs"].items():
        regs[reg] = g.saved_word(offset)

    header = "Greenlet %s (%s stack, suspended" % (g.label(), g.model)
    displaced = None
    if saved:
        total = int(g.get("stack_stop")) - start
        header += "; %d of its %d stack bytes in the heap, shown in place" % (saved, total)
        # Put the heap slice back where the greenlet's frames expect it, for as long as gdb
        # unwinds; whatever occupies those addresses now is restored right after.
        displaced = bytes(inferior.read_memory(start, saved))
        try:
            inferior.write_memory(start, bytes(inferior.read_memory(copy, saved)))
        except gdb.error:
            return (
                header.replace(", shown in place", "")
                + "):\n#0  %s\n"
                "(its innermost %d stack bytes are saved in the heap and cannot be put back in "
                "place in this target, e.g. a core file: only the function it is parked in is "
                "shown)\n" % (describe_pc(regs[layout["pc"][0]]), saved)
            )
    header += "):\n"

    level = _selected_level()
    try:
        frame0 = gdb.newest_frame()
        real_pc = frame0.pc()
        real_sp = int(frame0.read_register(layout["sp"][0]))
        _unwinder.target = (real_pc, real_sp, start - 16, regs)
        gdb.invalidate_cached_frames()
        frame = gdb.newest_frame()
        while frame.type() == gdb.INLINE_FRAME:
            frame = frame.older()
        skip = frame.level() + 1
        text = gdb.execute("backtrace " + " ".join(args), to_string=True)
    finally:
        _unwinder.target = None
        if displaced is not None:
            inferior.write_memory(start, displaced)
        gdb.invalidate_cached_frames()
        try:
            _select_level(level)
        except gdb.error:
            pass
    return header + _greenlet_frames(text, skip, count)


# ---- Commands ------------------------------------------------------------------------------


class InfoGreenlets(gdb.Command):
    """List the greenlets of the selected thread.

Usage: info greenlets

For every libgreen greenlet of the selected thread: its id, state (running, suspended,
new, dead), stack model (thread for the main greenlet, which runs on the thread's own
stack; private; shared), its parent's id, its name, and where it is: the function a
suspended greenlet is parked in, or the function a new one will run.  The running
greenlet is marked with "*".  "greenlet bt ID" shows a suspended greenlet's backtrace.
Use "thread N" first for the greenlets of another thread."""

    def __init__(self):
        super().__init__("info greenlets", gdb.COMMAND_STACK, gdb.COMPLETE_NONE)

    def invoke(self, arg, from_tty):
        if arg.strip():
            raise gdb.GdbError("info greenlets takes no arguments")
        ts = thread_state()
        if ts is None:
            gdb.write("No greenlets on this thread (it has not called libgreen).\n")
            return
        layout, _ = switch_layout()
        rows = [("", "Id", "State", "Model", "Parent", "Name", "Frame")]
        for g in thread_greenlets(ts):
            rows.append(
                (
                    "*" if g.state == "running" else "",
                    str(g.id),
                    g.state,
                    g.model,
                    "-" if g.parent_id is None else str(g.parent_id),
                    '"%s"' % g.name if g.name else "-",
                    g.where(layout),
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        for r in rows:
            cells = [r[i].ljust(widths[i]) for i in range(len(widths))]
            gdb.write(("  ".join(cells) + "  " + r[-1]).rstrip() + "\n")


class GreenletPrefix(gdb.Command):
    """Commands for libgreen greenlets.

"info greenlets" lists the greenlets of the selected thread; "greenlet bt ID" shows the
backtrace of a suspended one."""

    def __init__(self):
        super().__init__("greenlet", gdb.COMMAND_STACK, gdb.COMPLETE_NONE, True)


class GreenletBacktrace(gdb.Command):
    """Show the backtrace of a suspended greenlet of the selected thread.

Usage: greenlet bt ID [BACKTRACE-OPTION]... [full] [COUNT]

ID is the greenlet's id as "info greenlets" shows it (any expression).  The rest is
passed to "backtrace": "greenlet bt 7 full" also shows the locals.  The frames are those
of the greenlet, from the call that suspended it outwards, numbered from 0.

Works for private and shared greenlets; for a shared one whose innermost stack was moved
to the heap, the saved bytes are put back in place for the duration of the command and
what was there is restored, so in a core file only its innermost function is shown.  The
program's registers are not changed.  The running greenlet's backtrace is "bt"."""

    def __init__(self, name):
        super().__init__(name, gdb.COMMAND_STACK, gdb.COMPLETE_EXPRESSION)

    def invoke(self, arg, from_tty):
        words = arg.split(None, 1)
        if not words:
            raise gdb.GdbError("usage: greenlet bt ID [BACKTRACE-OPTION]...")
        wanted = int(gdb.parse_and_eval(words[0]))
        ts = thread_state()
        if ts is None:
            raise gdb.GdbError("No greenlets on this thread (it has not called libgreen).")
        found = [g for g in thread_greenlets(ts) if g.id == wanted]
        if not found:
            raise gdb.GdbError(
                "No greenlet %d on this thread (see \"info greenlets\"; a greenlet of another "
                "thread needs \"thread N\" first)." % wanted
            )
        g = found[0]
        if g.state == "running":
            raise gdb.GdbError("Greenlet %s is running on this thread: its backtrace is \"bt\"." % g.label())
        if g.state == "new":
            raise gdb.GdbError("Greenlet %s has not started: it has no stack yet." % g.label())
        if g.state == "dead":
            raise gdb.GdbError("Greenlet %s is dead: it has no stack." % g.label())
        layout, why = switch_layout()
        if layout is None:
            raise gdb.GdbError("greenlet bt: %s." % why)
        gdb.write(greenlet_backtrace(g, layout, words[1] if len(words) > 1 else ""))


InfoGreenlets()
GreenletPrefix()
GreenletBacktrace("greenlet bt")
GreenletBacktrace("greenlet backtrace")
