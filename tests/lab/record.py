#!/usr/bin/env python3
"""Records the AMI call classes of issue #14 with the real Asterisk lab (../shared/asterisk) into tests/data/ami/lab.

It IMPORTS the shared lab's driver (scenarios.py: Runner, world calls, transfers), truth.py (truth lines from the
world's log) and labenv.py; it adds lab variants and scenarios, and computes the truth itself only where truth.py's rules
do not fit (call pickup, phones that refused at once, a call with no party, an Originate that timed out). Nothing here changes the shared lab.

Variants (each a lab of its own, own ports, so it never collides with the default lab on 5038/5060/10000-11999/7182):
  stock       the shared lab's templates as they are                        AMI 5238, SIP 5260, RTP 20000-21999
  office      tests/lab/templates/office: + pickup groups, *8, **2XX, phone 206 never registered, DND / 302 handsets,
              two-digit IVR, queue support2, a Local-only context, relay user allowed CoreShowChannels
                                                                             AMI 5338, SIP 5360, RTP 22000-23999
  numberplan  tests/lab/templates/numberplan: phones are accounts 15001000N (extension only in the caller id),
              contexts ctx-did/ctx-users/ctx-group, trunk endpoint named 3001 AMI 5438, SIP 5460, RTP 24000-25999
  warsaw      the shared templates; the PBX sees /etc/localtime = Europe/Warsaw (a mount namespace of its own:
              Asterisk ignores TZ=); the world and this driver stay in UTC
                                                                             AMI 5538, SIP 5560, RTP 26000-27999

examples:
  python3 tests/lab/record.py list
  python3 tests/lab/record.py start office            # lab in .lab-rec/office (--root to move it)
  python3 tests/lab/record.py run office p1_group_pickup_direct
  python3 tests/lab/record.py run office all          # every scenario of the variant
  python3 tests/lab/record.py truth office            # recompute the truth lines of the runs in the lab
  python3 tests/lab/record.py collect office          # captures + truth + world log windows -> tests/data/ami/lab
  python3 tests/lab/record.py retruth                 # recompute every truth line from the stored world logs
  python3 tests/lab/record.py stop office
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("CT_SHARED_DIR") or os.path.join(os.path.dirname(REPO), "shared")
LAB_BIN = os.path.join(SHARED, "asterisk", "bin")
if not os.path.isdir(LAB_BIN):
    sys.exit(f"the shared Asterisk lab is not at {LAB_BIN} (set CT_SHARED_DIR)")
sys.path.insert(0, LAB_BIN)
import labenv  # noqa: E402
import scenarios as S  # noqa: E402
import truth as T  # noqa: E402

DATA = os.path.join(REPO, "tests", "data", "ami", "lab")
CALLER = S.CALLER

VARIANTS = {
    "stock": {"templates": None, "offset": 200, "rtp": 20000, "tz": None,
              "note": "the shared lab's templates (../shared/asterisk/lab) as they are"},
    "office": {"templates": os.path.join(HERE, "templates", "office"), "offset": 300, "rtp": 22000, "tz": None,
               "note": "tests/lab/templates/office"},
    "numberplan": {"templates": os.path.join(HERE, "templates", "numberplan"), "offset": 400, "rtp": 24000,
                   "tz": None, "note": "tests/lab/templates/numberplan"},
    "warsaw": {"templates": None, "offset": 500, "rtp": 26000, "tz": "Europe/Warsaw",
               "note": "the shared templates; the PBX process runs with TZ=Europe/Warsaw"},
}


def now():
    return time.time()


# ------------------------------------------------------------------------------------------------ lab control
def lab_dir(root, variant):
    return os.path.join(root, variant)


def lab_sh(*args, env=None):
    cmd = ["bash", os.path.join(LAB_BIN, "lab.sh"), *args]
    return subprocess.run(cmd, env=env, text=True, capture_output=True)


def start(root, variant):
    v = VARIANTS[variant]
    d = lab_dir(root, variant)
    env = dict(os.environ, LAB_ALLOW_ROOT="1")
    if v["templates"]:
        env["LAB_TEMPLATES"] = v["templates"]
    r = lab_sh("start", "--dir", d, "--port-offset", str(v["offset"]), "--rtp-start", str(v["rtp"]), env=env)
    print(r.stdout.strip())
    if r.returncode:
        sys.exit(r.stderr.strip() or "lab.sh start failed")
    if v["tz"]:
        start_pbx_in_zone(d, v["tz"])


def start_pbx_in_zone(d, zone):
    """Asterisk on Linux takes local time from /etc/localtime only (main/stdtime/localtime.c ignores TZ), so the PBX
    runs in a mount namespace of its own where /etc/localtime is the zone's file (unshare -m + mount --bind; root).
    The world and this driver keep the machine's zone (UTC). lab.sh stop/status/cli keep working: same pid file, the
    same asterisk command line."""
    lab = labenv.Lab(argparse.Namespace(dir=d, ami_port=None, world_ami_port=None, host=None))
    pidfile = os.path.join(d, "pbx.pid")
    pid = open(pidfile).read().strip()
    if os.path.exists(f"/proc/{pid}") and os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt"):
        print(f"pbx (pid {pid}) already runs in its own mount namespace ({zone})")
        return
    lab.cli("pbx", "core stop now")
    for _ in range(60):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.5)
    zfile = os.path.join("/usr/share/zoneinfo", zone)
    if not os.path.isfile(zfile):
        sys.exit(f"no zone file {zfile} (apt-get install tzdata)")
    conf = lab.conf["pbx"]
    for f in ("asterisk.ctl", "asterisk.pid"):
        try:
            os.remove(os.path.join(d, "pbx", "run", f))
        except FileNotFoundError:
            pass
    script = f'mount --bind "{zfile}" /etc/localtime && exec "{lab.asterisk}" -C "{conf}" -f -n -q'
    with open(os.path.join(d, "pbx", "log", "console.out"), "ab") as out:
        p = subprocess.Popen(["unshare", "-m", "sh", "-c", script], cwd=os.path.join(d, "pbx"),
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                             env=dict(os.environ, TZ=zone))
    with open(pidfile, "w") as f:
        f.write(f"{p.pid}\n")
    for _ in range(60):
        if p.poll() is not None:
            sys.exit(f"the PBX exited at start (see {d}/pbx/log/console.out)")
        rc, _ = lab.cli("pbx", "core waitfullybooted", timeout=20) if os.path.exists(
            os.path.join(d, "pbx", "run", "asterisk.ctl")) else (1, "")
        if rc == 0:
            break
        time.sleep(0.5)
    rc, out = lab.cli("pbx", "core show settings")
    print(f"pbx pid {p.pid} in its own mount namespace, /etc/localtime = {zone}: "
          + " ".join(x.strip() for x in out.splitlines() if "Startup time" in x))


def stop(root, variant):
    r = lab_sh("stop", "--dir", lab_dir(root, variant))
    print(r.stdout.strip() or r.stderr.strip())


# ------------------------------------------------------------------------------------------------ helpers
def world_chan(r, exten, context="from-pbx"):
    """The world's channel of a handset (the PBX's INVITE to phone <exten>)."""
    for c in r.channels(r.world):
        if c.get("Context") == context and c.get("Exten") == exten:
            return c.get("Channel")
    return None


def world_originate(r, marks, key, dial, callerid, exten="talk", timeout_ms=30000, **variables):
    """A second world call in the same scenario (a phone that picks up, ...); marks[key] = when."""
    vs = [f"{k}={v}" for k, v in variables.items()]
    marks[key] = now()
    x = r.world.action("Originate", Channel=f"PJSIP/{dial}@pbx", CallerID=callerid, Timeout=timeout_ms,
                       Context="caller", Exten=exten, Priority=1, Async="true", Variable=vs)
    print(f"    world Originate {dial} from {callerid} -> {exten}: {x.get('Response')}", flush=True)
    assert x.get("Response") == "Success", x


def play_dtmf(r, chan, digits, gap=0.35):
    for d in digits:
        x = r.world.action("PlayDTMF", Channel=chan, Digit=d, Duration=180)
        assert x.get("Response") == "Success", x
        time.sleep(gap)


# ------------------------------------------------------------------------------------------------ scenario bodies
def call_then(dial, callerid, after, action, timeout_ms=30000, **vs):
    """The world calls the PBX; after <after> s, action(r, marks)."""
    def fn(r, m, cap):
        r.originate(m, dial, callerid, timeout_ms, **vs)
        time.sleep(after)
        action(r, m)
    return fn


def do_transfer(kind, chan_prefix, target, context="from-internal", then=None):
    def act(r, m):
        m["transfer"] = now()
        if kind == "blind":
            r.blind_transfer(chan_prefix, target, context)
        elif kind == "redirect":
            r.redirect(chan_prefix, target, context)
        else:
            r.atxfer(chan_prefix, target, context)
        if then:
            then(r, m)
    return act


def feature_atxfer(handset, target):
    """The transferer's handset itself keys *2 and the target (RFC 4733 from the world), not AMI Atxfer."""
    def act(r, m):
        ch = world_chan(r, handset)
        assert ch, f"no world channel of handset {handset}"
        m["transfer"] = now()
        play_dtmf(r, ch, "*2", gap=0.25)
        time.sleep(1.3)                      # the pbx-transfer prompt (0.5 s placeholder)
        play_dtmf(r, ch, target, gap=0.3)
        print(f"    {handset} keyed *2 {target} on {ch}", flush=True)
    return act


def later(delay, fn):
    def act(r, m):
        time.sleep(delay)
        fn(r, m)
    return act


def set_mode(num, mode):
    def act(r, m):
        x = r.world.action("DBPut", Family="ph", Key=num, Val=mode)
        m[f"mode_{num}"] = now()
        print(f"    handset {num} now {mode}: {x.get('Response')}", flush=True)
    return act


def pickup(picker_cid, dial):
    def act(r, m):
        world_originate(r, m, "pickup", dial, picker_cid, exten="pick", TALK=8)
    return act


def replaces_pickup(handset, picker_cid, talk=8):
    """A phone picks up the ringing handset's call with SIP Replaces: the world reads the dialog of the PBX's INVITE to
    <handset> (Call-ID, tags) and sends the PBX a new INVITE with "Replaces: <call-id>;to-tag=<PBX tag>;from-tag=<handset
    tag>" (RFC 3891; the tags as the PBX sees them), as a BLF key or a pickup key on a desk phone does."""
    def act(r, m):
        ch = world_chan(r, handset)
        assert ch, f"no world channel of handset {handset}"
        get = {k: r.world.action("Getvar", Channel=ch, Variable=f"CHANNEL(pjsip,{k})").get("Value")
               for k in ("call-id", "local_tag", "remote_tag")}
        repl = f"{get['call-id']};to-tag={get['remote_tag']};from-tag={get['local_tag']}"
        print(f"    Replaces: {repl}", flush=True)
        m["pickup"] = now()
        x = r.world.action("Originate", Channel=f"Local/{handset}@replaces", Context="caller", Exten="pick",
                           Priority=1, Async="true", Timeout=20000,
                           Variable=[f"__REPL={repl}", f"PICKER_CID={picker_cid}", f"TALK={talk}"])
        print(f"    world Originate Local/{handset}@replaces (Replaces pickup): {x.get('Response')}", flush=True)
    return act


def c2c(channel, exten, callerid='"Adam Malinowski" <201>', timeout_ms=20000, context="from-internal"):
    def fn(r, m, cap):
        r.pbx_originate(m, channel, exten, callerid, timeout_ms, context=context)
    return fn


def no_party(r, m, cap):
    m["originate"] = now()
    x = r.pbx.action("Originate", Channel="Local/s@lab-noparty", Application="Wait", Data="5", Async="true")
    print("    Originate Local/s@lab-noparty -> Wait(5):", x.get("Response"), x.get("Message"), flush=True)


def queue_pause(iface, paused, queue="support2", reason="DND"):
    def act(r, m):
        x = r.pbx.action("QueuePause", Queue=queue, Interface=iface, Paused="true" if paused else "false",
                         Reason=reason)
        print(f"    QueuePause {queue} {iface} {paused}: {x.get('Response')} {x.get('Message', '')}", flush=True)
    return act


def before(pre, fn):
    def f(r, m, cap):
        pre(r, m)
        fn(r, m, cap)
    return f


# ------------------------------------------------------------------------------------------------ relay view
class RelayView:
    """What a relay like ours receives: user relay (read = call,cdr,dialplan,agent), the frames of every session as
    envelopes {pbx, protocol, session, seq, receivedAt, frame} (JSON Lines, the relay's wire contract); on a dropped
    connection it reconnects after 1 s, then 2 s (the relay's first backoff steps, Relay:ReconnectDelaySeconds = 1,
    exponential), logs in, asks CoreShowChannels and forwards the list like any other frames. The banner and the
    answers to Login/Events are not forwarded (the relay keeps them to itself)."""

    def __init__(self, lab, path, pbx="lab-office", delays=(1.0, 2.0, 4.0)):
        self.lab, self.path, self.pbx, self.delays = lab, path, pbx, delays
        self.out = open(path, "w", encoding="utf-8")
        self.stop_flag = False
        self.sock = None
        self.sessions = []
        self.local_port = None
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.ready = threading.Event()
        self.t.start()
        self.ready.wait(10)

    def _emit(self, session, seq, at, frame):
        rec = {"pbx": self.pbx, "protocol": "ami", "session": session, "seq": seq,
               "receivedAt": datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds")
               .replace("+00:00", "Z"), "frame": frame}
        self.out.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self.out.flush()

    def _loop(self):
        n = 0
        while not self.stop_flag:
            try:
                self._session(n)
            except OSError:
                pass
            if self.stop_flag:
                break
            d = self.delays[min(n, len(self.delays) - 1)]
            print(f"    relay view: session {n + 1} ended; reconnecting in {d:g} s", flush=True)
            time.sleep(d)
            n += 1

    def _session(self, n):
        s = socket.create_connection((self.lab.host, self.lab.ami_port), timeout=5)
        s.settimeout(0.3)
        self.sock = s
        self.local_port = s.getsockname()[1]
        sid = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + f"-lab{n + 1:02d}"
        self.sessions.append({"session": sid, "connected": now()})
        own = {f"rv-login-{n}", f"rv-events-{n}"}
        s.sendall((f"Action: Login\r\nActionID: rv-login-{n}\r\nUsername: relay\r\nSecret: "
                   f"{labenv.USERS['relay']}\r\n\r\n"
                   f"Action: Events\r\nActionID: rv-events-{n}\r\nEventMask: call,cdr,dialplan,agent\r\n\r\n"
                   f"Action: CoreShowChannels\r\nActionID: rv-coreshowchannels-{n}\r\n\r\n").encode())
        buf = b""
        seq = 0
        first = True
        while not self.stop_flag:
            try:
                b = s.recv(65536)
            except socket.timeout:
                continue
            if not b:
                break
            at = now()
            buf += b
            if first and b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                first = False
                if not line.startswith(b"Asterisk Call Manager/"):
                    buf = line + b"\r\n" + buf
                self.ready.set()
            while b"\r\n\r\n" in buf:
                block, buf = buf.split(b"\r\n\r\n", 1)
                text = block.decode("utf-8", "replace").strip("\r\n")
                if not text:
                    continue
                aid = re.search(r"^ActionID: (.*)$", text, re.M)
                if text.startswith("Response:") and aid and aid.group(1).strip() in own:
                    continue
                seq += 1
                self._emit(self.sessions[-1]["session"], seq, at, text)
        self.sessions[-1]["ended"] = now()
        s.close()

    def stop(self):
        self.stop_flag = True
        self.t.join(3)
        try:
            self.sock.close()
        except (OSError, AttributeError):
            pass
        self.out.close()


def relay_gap(dial, callerid, drops, **vs):
    """The world calls the PBX while a relay view is connected; at each of <drops> s every AMI connection except the
    capture's and the driver's is killed (ss -K), so the relay view reconnects with its backoff."""
    def fn(r, m, cap):
        path = os.path.join(r.out, r.current + ".relay.jsonl")
        r.relay_view = RelayView(r.lab, path)
        time.sleep(0.5)
        r.originate(m, dial, callerid, 30000, **vs)
        last = 0.0
        for i, t in enumerate(drops):
            time.sleep(t - last)
            last = t
            m[f"drop{i + 1}"] = now()
            r.drop_other_ami_clients([cap.local_port, r.pbx.local_port])
    return fn


# ------------------------------------------------------------------------------------------------ truth fixers
PICKER = re.compile(r'Executing \[pick@caller:1\] NoOp\("([^"]+)", "WORLD-PICKER-ANSWERED')
EXIT_ANY = re.compile(r"Spawn extension \(([^,]+), ([^,]+), \d+\) exited non-zero on '([^']+)'")
REFUSED = re.compile(r'NoOp\("' + T.CHAN + r'", "WORLD-(DND|FORWARD) \S+ ([^\s"]+)')


def legs_of(window):
    """{world channel: {exten, in, answer, end}} for the handsets' legs (the PBX's INVITEs), from the world log."""
    legs = {}
    for t, line in window:
        mm = T.RX["in"].search(line)
        if mm:
            legs[mm.group(2)] = {"exten": mm.group(3), "in": t, "answer": None, "end": None}
            continue
        mm = T.RX["answer"].search(line)
        if mm and mm.group(1) in legs and legs[mm.group(1)]["answer"] is None:
            legs[mm.group(1)]["answer"] = t
            continue
        mm = T.RX["exit"].search(line) or T.RX["fallthrough"].search(line)
        if mm and mm.group(mm.lastindex) in legs and legs[mm.group(mm.lastindex)]["end"] is None:
            legs[mm.group(mm.lastindex)]["end"] = t
    return legs


def call_base(window):
    """Where truth.py counts ring time from: the world's first Dial (the caller placing the call) or first INVITE."""
    for t, line in window:
        if T.RX["called"].search(line) or T.RX["in"].search(line):
            return t
    return window[0][0]


def chan_end(window, chan):
    for t, line in window:
        mm = EXIT_ANY.search(line) or T.RX["fallthrough"].search(line)
        if mm and mm.group(mm.lastindex) == chan:
            return t
    return None


HUNGUP = re.compile(r'NoOp\("[^"]+", "WORLD-(HANGUP \S+ ([^\s"]+)|CALLER-HANGUP|PICKER-HANGUP)')


def fix_who(tr, window, rec):
    """truth.py's note names who hung up from leg end times only; say it from the world's own WORLD-*HANGUP lines: the
    party whose hangup ended the caller's leg (within 0.2 s), else the PBX ended the call (e.g. after a recall loop)."""
    if tr.get("status") != "answered" or not re.search(r"; [^;]+ hung up(?=;|$)", tr.get("note", "")):
        return tr
    cchan = None
    for t, line in window:
        mm = T.RX["ringing"].search(line) or T.RX["caller_ans"].search(line)
        if mm:
            cchan = mm.group(1)
            break
    if cchan:
        t_end = chan_end(window, cchan)
    else:   # click-to-call: no world caller; the call ends with its last handset/far-end leg
        ends = [l["end"] for l in legs_of(window).values() if l["end"] is not None]
        t_end = max(ends) if ends else None
    who = None
    if t_end is not None:
        for t, line in window:
            mm = HUNGUP.search(line)
            if mm and abs(t - t_end) <= 0.2:
                if mm.group(1) == "CALLER-HANGUP":
                    who = "caller" if tr["direction"] == "inbound" else f"{tr['caller']} (caller)"
                elif mm.group(1) == "PICKER-HANGUP":
                    who = tr["answeredBy"]
                else:
                    who = mm.group(2) if T.PHONE.match(mm.group(2)) else "far end"
    tr["note"] = re.sub(r"; [^;]+ hung up(?=;|$)", f"; {who} hung up" if who else "; the PBX ended the call", tr["note"],
                        count=1)
    return tr


def fix_refused(tr, window, rec):
    """A handset that refused at once (DND: 480 without ringing; call forward always: 302) never rang: the truth is
    truth.py's analysis of the world log without that leg (so it is not in extensions and its instant end is not the
    end of the ringing). When nobody answered and the caller's own leg ended before every leg that rang, the caller
    gave up (a queue caller abandoning: the PBX had answered it, so the originate timeout says nothing)."""
    refused = {}
    for t, line in window:
        mm = REFUSED.search(line)
        if mm:
            refused[mm.group(1)] = (mm.group(3), mm.group(2))
    if not refused:
        return tr
    kept = [(t, line) for t, line in window if not any(f"'{ch}'" in line or f'"{ch}"' in line for ch in refused)]
    tr.update(T.analyse(kept, rec))
    rang = {l["exten"] for l in legs_of(kept).values()}
    gone = sorted({x for x, _ in refused.values() if x not in rang})
    tr["extensions"] = [x for x in tr["extensions"] if x not in gone]
    if tr["status"] != "answered":
        caller_end = None
        for t, line in kept:
            mm = T.RX["caller_ans"].search(line)
            if mm:
                caller_end = chan_end(kept, mm.group(1))
                break
        ends = [l["end"] for l in legs_of(kept).values() if l["end"] is not None]
        if caller_end is not None and ends and caller_end < min(ends):
            tr["missedReason"] = "cancel"
            tr["note"] = f"the caller gave up after {tr['ringSeconds']} s (the PBX had answered it: queue)"
    why = {"DND": "DND, 480", "FORWARD": "302 call forward"}
    tr["note"] += "; " + ", ".join(f"{x} refused at once ({why[k]}) and never rang"
                                    for x, k in sorted(set(refused.values())) if x in gone)
    return tr


def fix_pickup(picker):
    """Call pickup: answeredBy = the phone that picked up; ring = first INVITE -> the moment the pickup connected the
    caller (the caller's leg gets its 200 OK; the PBX answers the picker's own call ~0.5 s earlier); talk = that ->
    end of the conversation (the caller's or the picker's leg, whichever ends first); extensions = phones whose
    handset got an INVITE (the picker got none: it placed a call)."""
    def fix(tr, window, rec):
        legs = legs_of(window)
        base = call_base(window)
        t_pick, pchan = None, None
        for t, line in window:
            mm = PICKER.search(line)
            if mm:
                t_pick, pchan = t, mm.group(1)
                break
        cchan, t_conn = None, None
        for t, line in window:
            mm = T.RX["ringing"].search(line)
            if mm and cchan is None and mm.group(1) != pchan:
                cchan = mm.group(1)
            mm = T.RX["answered"].search(line)
            if mm and cchan is not None and mm.group(1) == cchan and t_conn is None:
                t_conn = t
        if t_pick is None or t_conn is None:
            tr["note"] = "PICKUP DID NOT HAPPEN: " + tr["note"]
            return tr
        e_pick, e_caller = chan_end(window, pchan), chan_end(window, cchan)
        t_end = min(x for x in (e_pick, e_caller) if x is not None)
        answered_by_handset = [l["exten"] for l in legs.values() if l["answer"] is not None]
        tr.update({"status": "answered", "missedReason": None, "answeredBy": picker,
                   "ringSeconds": T.r2(t_conn - base), "talkSeconds": T.r2(t_end - t_conn)})
        who = picker if e_pick == t_end else ("caller" if tr["direction"] == "inbound" else f"{tr['caller']} (caller)")
        early = (f"; the PBX answered {picker}'s own call {T.r2(t_conn - t_pick)} s before it connected the caller"
                 if t_conn - t_pick > 0.05 else "")
        tr["note"] = (f"{picker} picked up after {tr['ringSeconds']} s (rang: {', '.join(tr['extensions'])}{early}); "
                      f"talk {tr['talkSeconds']} s; {who} hung up"
                      + (f"; HANDSETS ALSO ANSWERED: {answered_by_handset}" if answered_by_handset else ""))
        return tr
    return fix


def fix_no_party(tr, window, rec):
    return {"file": tr["file"], "callKey": tr["callKey"], "noCallRecord": True,
            "note": "Originate Local/s@lab-noparty Application=Wait: only Local channels, no phone, no trunk: "
                    "not a call record"}


def fix_set(note, **fields):
    """Fields truth.py cannot know (e.g. who gave up when an Originate times out), and the note that says why."""
    def fix(tr, window, rec):
        tr.update(fields)
        tr["note"] = note.format(**tr)
        return tr
    return fix


def fix_note(text):
    def fix(tr, window, rec):
        tr["note"] = text + "; " + tr["note"]
        return tr
    return fix


# ------------------------------------------------------------------------------------------------ scenarios
def sc(variant, name, note, modes, fn, direction=None, caller=None, called=None, timeout_ms=30000, fix=None,
       post=None, **kw):
    d = S.sc(name, note, modes, fn, direction, caller, called, timeout_ms, **kw)
    d.update(variant=variant, fix=fix, post=post)
    return d


def shared(variant, name):
    d = dict(S.BY_NAME[name])
    d.update(variant=variant, fix=None, post=None)
    return d


NP = {n: f'"{nm}" <15001000{n[-1]}>' for n, nm in
      (("201", "Adam Malinowski"), ("202", "Beata Kaczmarek"), ("203", "Cezary Wojcik"), ("204", "Dorota Lis"),
       ("205", "Emil Zielinski"))}
PHONE = {n: f'"{nm}" <{n}>' for n, nm in
         (("201", "Adam Malinowski"), ("202", "Beata Kaczmarek"), ("203", "Cezary Wojcik"), ("204", "Dorota Lis"),
          ("205", "Emil Zielinski"))}
T201 = [{"from": "201", "to": "203"}]

SCENARIOS = [
    # ---------------------------------------------------------------- stock: the shared driver's scenarios as they are
    *[shared("stock", n) for n in ("d_caller_cancels", "l_outbound_noanswer_cancel", "n1_smart_redirect_known_last_call",
                                   "n2_smart_redirect_gosub_contact", "n3_smart_redirect_unknown_fallback",
                                   "n4_smart_redirect_national_missed_before", "q_relay_link_dropped_twice_answer_in_gap",
                                   "r2_click_to_call_local_originate")],
    # ---------------------------------------------------------------- stock: more runs of classes with new numbers
    sc("stock", "g2b_redirect_transfer_run2",
       "caller +48512000111 -> 221234501 -> 201 answers after 2 s; at 6 s AMI Redirect of the caller's channel to "
       "203@from-internal; 203 rings 6 s, answers, talks 7 s, hangs up",
       {"201": "answer:2:", "203": "answer:6:7"},
       call_then("221234501", '"" <+48512000111>', 6.0, do_transfer("redirect", "PJSIP/provider-", "203"), TALK=120),
       "inbound", "+48512000111", "221234501", transfers=T201),
    sc("stock", "g3_blind_transfer_target_busy",
       "caller -> 221234501 -> 201 answers after 3 s; at 7 s AMI BlindTransfer of 201 to 203; 203 is busy (486): "
       "the dialplan's Busy(5) plays to the caller, the PBX hangs up (no recall of 201 on a blind transfer)",
       {"201": "answer:3:", "203": "busy"},
       call_then("221234501", CALLER, 7.0, do_transfer("blind", "PJSIP/201-", "203"), TALK=120),
       "inbound", "+48693109180", "221234501", transfers=T201),
    sc("stock", "g4_blind_transfer_target_noanswer",
       "caller -> 221234501 -> 201 answers after 3 s; at 7 s AMI BlindTransfer of 201 to 203; 203 rings and never "
       "answers: Dial(PJSIP/203,30) times out, the PBX hangs up",
       {"201": "answer:3:", "203": "noanswer"},
       call_then("221234501", '"Maria Wisniewska" <+48501222333>', 7.0, do_transfer("blind", "PJSIP/201-", "203"),
                 TALK=120),
       "inbound", "+48501222333", "221234501", transfers=T201),
    *[sc("stock", f"h3_atxfer_run{i}",
         f"caller -> 221234501 -> 201 answers after {ring} s; at {after} s AMI Atxfer (*2 203) on 201; 203 answers the "
         f"consultation after {t_ring} s; 201 hangs up {t201} s after its answer -> transfer completes; 203 hangs up "
         f"{t203} s after its answer",
         {"201": f"answer:{ring}:{t201}", "203": f"answer:{t_ring}:{t203}"},
         call_then("221234501", cid, after, do_transfer("atxfer", "PJSIP/201-", "203"), TALK=120),
         "inbound", cid.rsplit("<", 1)[1].rstrip(">"), "221234501", transfers=T201)
      for i, (ring, after, t_ring, t201, t203, cid) in enumerate([
          (3, 8.5, 3, 14, 20, CALLER),
          (2, 6.0, 2, 9, 12, '"Anna Nowak" <+48600100200>'),
          (4, 9.0, 4, 15, 9, '"Piotr Zalewski" <0612345678>'),
          (3, 7.0, 2, 10, 15, '"Tomasz Lewandowski" <+48601444555>')], 1)],
    sc("stock", "h4_featurecode_star2_transfer",
       "caller -> 221234501 -> 201 answers after 3 s; at 7 s 201's handset keys *2 then 203 (RFC 4733 DTMF, the real "
       "feature code, no AMI action); 203 answers the consultation after 3 s; 201 hangs up 16 s after its answer; 203 "
       "hangs up 12 s after its answer",
       {"201": "answer:3:16", "203": "answer:3:12"},
       call_then("221234501", CALLER, 7.0, feature_atxfer("201", "203"), TALK=120),
       "inbound", "+48693109180", "221234501", transfers=T201),
    sc("stock", "h5_featurecode_star2_transfer_run2",
       "caller +48600100200 -> 221234501 -> 201 answers after 2 s; at 5 s 201 keys *2 204; 204 answers the "
       "consultation after 4 s; 201 hangs up 14 s after its answer; the caller hangs up 25 s after its answer",
       {"201": "answer:2:14", "204": "answer:4:"},
       call_then("221234501", '"Anna Nowak" <+48600100200>', 5.0, feature_atxfer("201", "204"), TALK=25),
       "inbound", "+48600100200", "221234501", transfers=[{"from": "201", "to": "204"}]),
    *[sc("stock", f"h6_featurecode_star2_run{i}",
         f"caller {cid} -> 221234501 -> 201 answers after {ring} s; at {after} s 201 keys *2 {tgt}; {tgt} answers the "
         f"consultation after {t_ring} s; 201 hangs up {t201} s after its answer; {tgt} hangs up {t_tgt} s after its "
         f"answer",
         {"201": f"answer:{ring}:{t201}", tgt: f"answer:{t_ring}:{t_tgt}"},
         call_then("221234501", cid, after, feature_atxfer("201", tgt), TALK=120),
         "inbound", cid.rsplit("<", 1)[1].rstrip(">"), "221234501", transfers=[{"from": "201", "to": tgt}])
      for i, (ring, after, tgt, t_ring, t201, t_tgt, cid) in enumerate([
          (2, 5.0, "203", 3, 12, 10, '"Maria Wisniewska" <+48501222333>'),
          (3, 6.0, "205", 2, 11, 14, '"" <+48512000111>'),
          (2, 4.5, "204", 3, 13, 8, '"Piotr Zalewski" <0612345678>')], 3)],
    sc("stock", "k3_ivr_other_digit_ringgroup",
       "caller +48512000111 -> 221234508 IVR; presses 5 (not 2) -> ring group 201&202; 201 answers after 3 s; caller "
       "hangs up 10 s after the DTMF",
       {"201": "answer:3:", "202": "noanswer"},
       S.world_call("221234508", '"" <+48512000111>', 30000, exten="ivr", TALK=10, DIGITS=5),
       "inbound", "+48512000111", "221234508"),
    sc("stock", "r3_click_to_call_far_end_noanswer",
       "CRM click-to-call: AMI Originate Channel=PJSIP/201 -> 0048221112233; 201 answers its callback after 2 s; the "
       "far end rings and never answers; 201 gives up (hangs up) 25 s after answering",
       {"201": "answer:2:25", "0048221112233": "noanswer"}, c2c("PJSIP/201", "0048221112233"),
       "outbound", "201", "0048221112233", 27000,
       fix=fix_note("201 answered its own callback leg after 2 s (ring time of the call, not its answer); the far end "
                    "never answered; 201 hung up")),
    sc("stock", "r4_click_to_call_callback_noanswer",
       "CRM click-to-call: AMI Originate Channel=Local/201@from-internal -> 0048600999888; 201 never answers its "
       "callback leg: Originate Timeout 20 s, nothing is dialled out",
       {"201": "noanswer"}, c2c("Local/201@from-internal", "0048600999888"),
       "outbound", "201", "0048600999888", 20000,
       fix=fix_set("201 never answered its callback leg: the Originate timed out after {ringSeconds} s (the PBX gave "
                   "up, nobody hung up); the number was never dialled (it is only in OriginateResponse Exten)",
                   status="not answered", missedReason="noanswer")),
    sc("stock", "r5_click_to_call_pjsip_run2",
       "CRM click-to-call: AMI Originate Channel=PJSIP/202 -> 0612345678; 202 answers after 3 s, the far end after 6 s "
       "more; the far end hangs up after 9 s talk",
       {"202": "answer:3:", "0612345678": "answer:6:9"},
       c2c("PJSIP/202", "0612345678", '"Beata Kaczmarek" <202>'), "outbound", "202", "0612345678", 20000),
    # ---------------------------------------------------------------- office: blonde transfer and its rejection
    sc("office", "b1_blonde_transfer_answered",
       "caller -> 221234501 -> 201 answers after 3 s; at 8.5 s Atxfer 201 -> 203; 203 rings 10 s; 201 hangs up while "
       "203 still rings (11 s): blonde transfer; 203 answers, talks 12 s, hangs up",
       {"201": "answer:3:8", "203": "answer:10:12"},
       call_then("221234501", CALLER, 8.5, do_transfer("atxfer", "PJSIP/201-", "203"), TALK=120),
       "inbound", "+48693109180", "221234501", transfers=T201),
    sc("office", "b2_blonde_transfer_noanswer_recall_answered",
       "caller -> 221234501 -> 201 answers after 3 s; at 7 s Atxfer 201 -> 203; 201 hangs up at 9 s while 203 rings; "
       "203 never answers: after atxfernoanswertimeout (20 s) Asterisk recalls 201; 201 answers the recall after 3 s "
       "and hangs up 8 s later",
       {"201": "answer:3:6", "203": "noanswer"},
       call_then("221234501", '"Anna Nowak" <+48600100200>', 7.0,
                 do_transfer("atxfer", "PJSIP/201-", "203", then=later(4.0, set_mode("201", "answer:3:8"))), TALK=300),
       "inbound", "+48600100200", "221234501", transfers=T201),
    sc("office", "b3_blonde_transfer_noanswer_recall_noanswer",
       "caller -> 221234501 -> 201 answers after 2 s; at 6 s Atxfer 201 -> 203; 201 hangs up at 8 s; nobody answers "
       "anything afterwards: recall of 201 and retries of 203 until Asterisk gives up",
       {"201": "answer:2:6", "203": "noanswer"},
       call_then("221234501", '"Piotr Zalewski" <0612345678>', 6.0,
                 do_transfer("atxfer", "PJSIP/201-", "203", then=later(4.0, set_mode("201", "noanswer"))), TALK=400),
       "inbound", "0612345678", "221234501", transfers=T201),
    sc("office", "b4_atxfer_target_busy",
       "caller -> 221234501 -> 201 answers after 3 s; at 7 s Atxfer 201 -> 203; 203 is busy (486) at once: the "
       "consultation fails, 201 is back with the caller; 201 hangs up 14 s after its answer",
       {"201": "answer:3:14", "203": "busy"},
       call_then("221234501", CALLER, 7.0, do_transfer("atxfer", "PJSIP/201-", "203"), TALK=120),
       "inbound", "+48693109180", "221234501", transfers=T201),
    sc("office", "b5_blonde_transfer_target_rejects",
       "caller -> 221234501 -> 201 answers after 3 s; at 7 s Atxfer 201 -> 203; 201 hangs up at 9 s while 203 rings; "
       "203 rejects after 6 s of ringing (486): recall of 201, which answers after 2 s and talks 6 s",
       {"201": "answer:3:6", "203": "ringbusy:6"},
       call_then("221234501", '"Maria Wisniewska" <+48501222333>', 7.0,
                 do_transfer("atxfer", "PJSIP/201-", "203", then=later(3.0, set_mode("201", "answer:2:6"))), TALK=300),
       "inbound", "+48501222333", "221234501", transfers=T201),
    # ---------------------------------------------------------------- office: call pickup
    sc("office", "p1_group_pickup_direct",
       "caller -> 221234501 -> 201 rings; at 4 s phone 203 dials *8 (group pickup, call group 1) and gets the call; "
       "talk 8 s, 203 hangs up",
       {"201": "noanswer"}, call_then("221234501", CALLER, 4.0, pickup(PHONE["203"], "*8"), TALK=120),
       "inbound", "+48693109180", "221234501", fix=fix_pickup("203")),
    sc("office", "p2_group_pickup_ringgroup",
       "caller +48600100200 -> 221234500 ring group 201&202 ringing; at 5 s phone 204 dials *8; talk until the "
       "caller hangs up 6 s after the pickup",
       {"201": "noanswer", "202": "noanswer"},
       call_then("221234500", '"Anna Nowak" <+48600100200>', 5.0, pickup(PHONE["204"], "*8"), TALK=6),
       "inbound", "+48600100200", "221234500", fix=fix_pickup("204")),
    sc("office", "p3_directed_pickup_direct",
       "caller -> 221234501 -> 201 rings; at 3 s phone 202 dials **201 (Pickup(201@PICKUPMARK)); talk 8 s, 202 hangs up",
       {"201": "noanswer"}, call_then("221234501", CALLER, 3.0, pickup(PHONE["202"], "**201"), TALK=120),
       "inbound", "+48693109180", "221234501", fix=fix_pickup("202")),
    sc("office", "p4_directed_pickup_ringgroup_member",
       "caller 0612345678 -> 221234500 ring group 201&202; at 6 s phone 205 dials **202 and picks up 202's leg; 201 "
       "stops ringing; talk 8 s, 205 hangs up",
       {"201": "noanswer", "202": "noanswer"},
       call_then("221234500", '"Piotr Zalewski" <0612345678>', 6.0, pickup(PHONE["205"], "**202"), TALK=120),
       "inbound", "0612345678", "221234500", fix=fix_pickup("205")),
    sc("office", "p5_group_pickup_internal",
       "phone 204 dials 201; 201 rings; at 4 s phone 203 dials *8 and gets the call; talk 8 s, 203 hangs up",
       {"201": "noanswer"}, call_then("201", PHONE["204"], 4.0, pickup(PHONE["203"], "*8"), TALK=120),
       "internal", "204", "201", fix=fix_pickup("203")),
    sc("office", "p6_sip_replaces_pickup",
       "caller -> 221234501 -> 201 rings; at 4 s phone 203 sends the PBX an INVITE with Replaces naming the PBX's "
       "ringing dialog to 201 (call pickup by SIP Replaces, e.g. a BLF key); talk 8 s, 203 hangs up",
       {"201": "noanswer"}, call_then("221234501", CALLER, 4.0, replaces_pickup("201", PHONE["203"]), TALK=120),
       "inbound", "+48693109180", "221234501", fix=fix_pickup("203")),
    sc("office", "p7_sip_replaces_pickup_ringgroup",
       "caller +48601444555 -> 221234500 ring group 201&202; at 5 s phone 204 picks up 202's ringing dialog with SIP "
       "Replaces; 201 stops ringing; the caller hangs up after 6 s talk",
       {"201": "noanswer", "202": "noanswer"},
       call_then("221234500", '"Tomasz Lewandowski" <+48601444555>', 5.0, replaces_pickup("202", PHONE["204"], 60),
                 TALK=6),
       "inbound", "+48601444555", "221234500", fix=fix_pickup("204")),
    # ---------------------------------------------------------------- office: extensions that rang
    sc("office", "s1_ringgroup_member_unregistered",
       "caller -> 221234510 ring group 201 & 206 & 202; 206 is not registered (no contact: CHANUNAVAIL, no INVITE); "
       "202 answers after 4 s; caller hangs up after 8 s talk",
       {"201": "noanswer", "202": "answer:4:"}, S.world_call("221234510", CALLER, 30000, TALK=8),
       "inbound", "+48693109180", "221234510"),
    sc("office", "s2_ringgroup_member_dnd",
       "caller +48600100200 -> 221234511 ring group 201 & 202 & 203; 203 is on DND (480 at once, never rings); 201 "
       "answers after 4 s, talks 9 s, hangs up",
       {"201": "answer:4:9", "202": "noanswer", "203": "dnd"},
       S.world_call("221234511", '"Anna Nowak" <+48600100200>', 30000, TALK=60),
       "inbound", "+48600100200", "221234511", fix=fix_refused),
    sc("office", "s3_ringgroup_member_call_forward_302",
       "caller 0612345678 -> 221234511 ring group 201 & 202 & 203; 202 forwards at once (302 to 205): the PBX follows "
       "it, 205 rings; 201 answers after 5 s; caller hangs up after 7 s talk",
       {"201": "answer:5:", "202": "fwd:205", "203": "noanswer", "205": "noanswer"},
       S.world_call("221234511", '"Piotr Zalewski" <0612345678>', 30000, TALK=7),
       "inbound", "0612345678", "221234511", fix=fix_refused),
    sc("office", "s4_queue_member_paused_and_unregistered",
       "caller -> 221234512 queue support2 (ringall 201 202 203 206): 203 paused (QueuePause, DND), 206 not "
       "registered; 202 answers after 5 s, talks 8 s, hangs up",
       {"201": "noanswer", "202": "answer:5:8", "203": "answer:1:5"},
       before(queue_pause("PJSIP/203", True), S.world_call("221234512", CALLER, 30000, TALK=60)),
       "inbound", "+48693109180", "221234512", post=queue_pause("PJSIP/203", False)),
    sc("office", "s5_queue_member_dnd_caller_abandons",
       "caller +48601444555 -> 221234512 queue support2 (the queue answers the caller at once); 203 answers its INVITE "
       "with 480 (DND); 206 not registered; 201 and 202 ring; the caller hangs up after 6 s in the queue, before 201 "
       "would have answered (7 s)",
       {"201": "answer:7:", "202": "noanswer", "203": "dnd"},
       S.world_call("221234512", '"Tomasz Lewandowski" <+48601444555>', 30000, TALK=6),
       "inbound", "+48601444555", "221234512", fix=fix_refused),
    sc("office", "s6_queue_member_dnd_answered",
       "caller 0612345678 -> 221234512 queue support2; 203 DND (480 at once); 206 not registered; 202 rings; 201 "
       "answers after 7 s, talks 6 s, hangs up",
       {"201": "answer:7:6", "202": "noanswer", "203": "dnd"},
       S.world_call("221234512", '"Piotr Zalewski" <0612345678>', 30000, TALK=60),
       "inbound", "0612345678", "221234512", fix=fix_refused),
    # ---------------------------------------------------------------- office: click-to-call without a party, IVR, gap
    sc("office", "c1_local_channels_only_no_party",
       "AMI Originate Channel=Local/s@lab-noparty Application=Wait Data=5: Answer, Wait(3), Hangup - only Local "
       "channels, no phone, no trunk", {}, no_party, None, None, None, 0, fix=fix_no_party),
    sc("office", "v1_ivr_two_digits",
       "caller -> 221234509 IVR Read(2 digits); caller keys 2 1 at ~2 s; Dial 201; 201 answers after 3 s; caller "
       "hangs up 12 s after the DTMF",
       {"201": "answer:3:"}, S.world_call("221234509", CALLER, 30000, exten="ivr", TALK=12, DIGITS=21),
       "inbound", "+48693109180", "221234509"),
    sc("office", "v2_ivr_two_digits_noanswer",
       "caller 0612345678 -> 221234509 IVR; keys 2 2; Dial(PJSIP/202,20) rings 20 s, nobody answers, the PBX hangs up",
       {"202": "noanswer"},
       S.world_call("221234509", '"Piotr Zalewski" <0612345678>', 30000, exten="ivr", TALK=40, DIGITS=22),
       "inbound", "0612345678", "221234509"),
    sc("office", "q2_relay_gap_answer_in_gap",
       "caller -> 221234501 -> 201 answers after 5 s; a relay view (user relay) is connected; its connection is killed "
       "at 3.0 s and again at 4.5 s (ss -K); it reconnects after 1 s, then 2 s (~6.5 s), asks CoreShowChannels: the "
       "answer at ~5 s is in its gap; caller hangs up after 15 s talk",
       {"201": "answer:5:"}, relay_gap("221234501", CALLER, [3.0, 4.5], TALK=15),
       "inbound", "+48693109180", "221234501"),
    sc("office", "q3_relay_gap_hangup_in_gap",
       "caller +48600100200 -> 221234501 -> 201 answers after 2 s, talks 7 s, hangs up (~9.5 s); the relay view's "
       "connection is killed at 7.0 s and again at 8.5 s (after its reconnect at ~8 s): the hangup and the Cdr fall "
       "in its gap (8.5-10.5 s); its resync (CoreShowChannels) finds no channel",
       {"201": "answer:2:7"}, relay_gap("221234501", '"Anna Nowak" <+48600100200>', [7.0, 8.5], TALK=60),
       "inbound", "+48600100200", "221234501"),
    # ---------------------------------------------------------------- numberplan: phones are accounts, trunk 3001
    sc("numberplan", "np1_inbound_direct",
       "caller -> DID 221234501 -> PJSIP/150010001 (extension 201); rings 3 s, answers, talks 9 s, hangs up",
       {"201": "answer:3:9"}, S.world_call("221234501", CALLER, 30000, TALK=120),
       "inbound", "+48693109180", "221234501"),
    sc("numberplan", "np2_ringgroup",
       "caller +48600100200 -> DID 221234500 -> Local/201@ctx-group & Local/202@ctx-group (accounts 150010001/2); 201 "
       "answers after 4 s; caller hangs up after 8 s talk",
       {"201": "answer:4:", "202": "noanswer"},
       S.world_call("221234500", '"Anna Nowak" <+48600100200>', 30000, TALK=8),
       "inbound", "+48600100200", "221234500"),
    sc("numberplan", "np3_internal",
       "phone 201 (account 150010001) dials 203 (account 150010003); 203 answers after 2 s, talks 6 s, hangs up",
       {"203": "answer:2:6"}, S.world_call("203", NP["201"], 30000, TALK=60), "internal", "201", "203"),
    sc("numberplan", "np4_outbound",
       "phone 202 (account 150010002) dials 0048221112233 over trunk PJSIP/3001; far end answers after 3 s; 202 hangs "
       "up after 8 s talk",
       {"0048221112233": "answer:3:"}, S.world_call("0048221112233", NP["202"], 30000, TALK=8),
       "outbound", "202", "0048221112233"),
    sc("numberplan", "np5_blind_transfer",
       "caller -> 221234501 -> 201 (150010001) answers after 3 s; at 7 s AMI BlindTransfer of PJSIP/150010001 to "
       "203@ctx-users; 203 rings 3 s, answers, talks 8 s, hangs up",
       {"201": "answer:3:", "203": "answer:3:8"},
       call_then("221234501", CALLER, 7.0, do_transfer("blind", "PJSIP/150010001-", "203", "ctx-users"), TALK=120),
       "inbound", "+48693109180", "221234501", transfers=T201),
    sc("numberplan", "np6_attended_transfer",
       "caller 0612345678 -> 221234501 -> 201 answers after 2 s; at 6 s AMI Atxfer of PJSIP/150010001 to "
       "203@ctx-users; 203 answers the consultation after 3 s; 201 hangs up 12 s after its answer; 203 hangs up 10 s "
       "after its answer",
       {"201": "answer:2:12", "203": "answer:3:10"},
       call_then("221234501", '"Piotr Zalewski" <0612345678>', 6.0,
                 do_transfer("atxfer", "PJSIP/150010001-", "203", "ctx-users"), TALK=120),
       "inbound", "0612345678", "221234501", transfers=T201),
    sc("numberplan", "np7_queue",
       "caller +48601444555 -> 221234505 queue support (ringall PJSIP/150010001, PJSIP/150010002); 202 answers after "
       "4 s, talks 7 s, hangs up",
       {"201": "noanswer", "202": "answer:4:7"},
       S.world_call("221234505", '"Tomasz Lewandowski" <+48601444555>', 30000, TALK=60),
       "inbound", "+48601444555", "221234505"),
    sc("numberplan", "np8_click_to_call",
       "CRM click-to-call: AMI Originate Channel=PJSIP/150010001 -> 0048221112233@ctx-users; 201 answers after 2 s, "
       "the far end after 3 s more, hangs up after 8 s",
       {"201": "answer:2:", "0048221112233": "answer:3:8"},
       c2c("PJSIP/150010001", "0048221112233", '"Adam Malinowski" <201>', context="ctx-users"),
       "outbound", "201", "0048221112233", 20000),
    # ---------------------------------------------------------------- warsaw: Cdr times in the PBX host's zone
    sc("warsaw", "w1_warsaw_inbound_answered",
       "PBX process in TZ=Europe/Warsaw: caller -> 221234501 -> 201 rings 4 s, answers, talks 10 s, hangs up (Cdr "
       "StartTime/AnswerTime/EndTime in Warsaw local time, Timestamp headers UTC epoch)",
       {"201": "answer:4:10"}, S.world_call("221234501", CALLER, 30000, TALK=120),
       "inbound", "+48693109180", "221234501"),
    sc("warsaw", "w2_warsaw_ringgroup_noanswer",
       "PBX in TZ=Europe/Warsaw: caller 0612345678 -> ring group 201&202, nobody answers, Dial timeout 20 s",
       {"201": "noanswer", "202": "noanswer"},
       S.world_call("221234500", '"Piotr Zalewski" <0612345678>', 40000, TALK=10),
       "inbound", "0612345678", "221234500", 40000),
    sc("warsaw", "w3_warsaw_outbound_answered",
       "PBX in TZ=Europe/Warsaw: phone 203 dials 0048221112233; far end answers after 5 s; 203 hangs up after 9 s",
       {"0048221112233": "answer:5:"}, S.world_call("0048221112233", PHONE["203"], 30000, TALK=9),
       "outbound", "203", "0048221112233"),
    sc("warsaw", "w4_warsaw_queue_answered",
       "PBX in TZ=Europe/Warsaw: caller -> 221234505 Answer + Queue support; 201 answers after 6 s, talks 8 s",
       {"201": "answer:6:8", "202": "noanswer"},
       S.world_call("221234505", '"Tomasz Lewandowski" <+48601444555>', 30000, TALK=60),
       "inbound", "+48601444555", "221234505"),
]
BY_NAME = {s["name"]: s for s in SCENARIOS}


# ------------------------------------------------------------------------------------------------ running
class Recorder(S.Runner):
    """The shared Runner, plus: the scenario name for relay views, fix-ups of the truth line, post actions."""

    current = None
    relay_view = None

    def record(self, s):
        self.current = s["name"]
        self.relay_view = None
        rec = self.run(s)
        if self.relay_view is not None:
            self.relay_view.stop()
            print(f"    relay view: {len(self.relay_view.sessions)} session(s) -> {self.relay_view.path}", flush=True)
        if s.get("post"):
            s["post"](self, {})
        if rec is None:
            return None
        if rec.get("truth", True):
            wl = open(self.lab.world_log, encoding="utf-8", errors="replace").read().splitlines()
            tr = compute_truth(rec, wl, self.out)
            T.update_truth_file(self.truth_file, [tr])
            print(f"    truth (this driver): {json.dumps(tr)}", flush=True)
        return rec


def compute_truth(meta, world_lines, capdir):
    """truth.py's line for one scenario run, the note's "who hung up" checked, then the scenario's own fix (if any)."""
    tr = T.truth_record(world_lines, meta, capdir)
    window = T.window_lines(world_lines, meta["t0"], meta["t1"])
    s = BY_NAME.get(meta["scenario"])
    if s and s.get("fix"):
        tr = s["fix"](tr, window, meta)
    return fix_who(tr, window, meta)


def lab_truth(root, variant, names):
    """Recompute the truth lines of runs already recorded in the variant's lab (DIR/captures)."""
    d = lab_dir(root, variant)
    cap = os.path.join(d, "captures")
    wl = open(os.path.join(d, "world", "log", "messages.log"), encoding="utf-8", errors="replace").read().splitlines()
    metas = {m["scenario"]: m for m in read_jsonl(os.path.join(cap, "scenario-log.jsonl"))}
    recs = [compute_truth(m, wl, cap) for n, m in metas.items()
            if (not names or n in names) and m.get("truth", True) is not False]
    T.update_truth_file(os.path.join(cap, "truth.jsonl"), recs)
    for r in recs:
        print(json.dumps(r))


def run(root, variant, names):
    d = lab_dir(root, variant)
    lab = labenv.Lab(argparse.Namespace(dir=d, ami_port=None, world_ami_port=None, host=None))
    chosen = [s for s in SCENARIOS if s["variant"] == variant and (names == ["all"] or s["name"] in names)]
    unknown = [n for n in names if n != "all" and n not in BY_NAME]
    if unknown:
        sys.exit(f"unknown scenario(s) {unknown} (record.py list)")
    wrong = [n for n in names if n in BY_NAME and BY_NAME[n]["variant"] != variant]
    if wrong:
        sys.exit(f"{wrong} belong to another variant ({', '.join(BY_NAME[n]['variant'] for n in wrong)})")
    r = Recorder(lab, lab.captures, check=False)
    try:
        for s in chosen:
            r.record(s)
    finally:
        r.close()


# ------------------------------------------------------------------------------------------------ collect / retruth
def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(x) for x in f if x.strip()]


def write_jsonl(path, recs):
    with open(path, "w", encoding="utf-8") as f:
        for x in recs:
            f.write(json.dumps(x, ensure_ascii=False) + "\n")


def merge(path, recs, key):
    by = {key(x): x for x in recs}
    old = read_jsonl(path)
    out = [by.pop(key(x), x) for x in old]
    out += list(by.values())
    write_jsonl(path, out)


def collect(root, variant, names):
    d = lab_dir(root, variant)
    cap = os.path.join(d, "captures")
    metas = {}
    for m in read_jsonl(os.path.join(cap, "scenario-log.jsonl")):
        metas[m["scenario"]] = m
    wl = open(os.path.join(d, "world", "log", "messages.log"), encoding="utf-8", errors="replace").read().splitlines()
    os.makedirs(os.path.join(DATA, "world"), exist_ok=True)
    truths, logs = [], []
    for name, m in metas.items():
        if names and name not in names:
            continue
        if name not in BY_NAME or BY_NAME[name]["variant"] != variant:
            continue
        f = name + ".txt"
        shutil.copyfile(os.path.join(cap, f), os.path.join(DATA, f))
        with open(os.path.join(DATA, "world", name + ".log"), "w", encoding="utf-8") as out:
            for _, line in T.window_lines(wl, m["t0"], m["t1"]):
                out.write(line + "\n")
        logs.append(dict(m, variant=variant))
        tr = dict(compute_truth(m, wl, cap), variant=variant)
        truths.append(tr)
        rv = os.path.join(cap, name + ".relay.jsonl")
        if os.path.exists(rv):
            shutil.copyfile(rv, os.path.join(DATA, name + ".relay.jsonl"))
            truths.append(dict(tr, file=name + ".relay.jsonl",
                               note=tr["note"] + "; what the relay user received, in envelopes, with its reconnects"))
        print(f"collected {f}: {tr.get('status', 'no call')} {tr.get('note', '')}")
    merge(os.path.join(DATA, "truth.jsonl"), truths, lambda x: x["file"])
    merge(os.path.join(DATA, "scenario-log.jsonl"), logs, lambda x: x["scenario"])


def retruth():
    """Recompute every truth line from the stored world log windows (tests/data/ami/lab/world/) and compare."""
    metas = {m["scenario"]: m for m in read_jsonl(os.path.join(DATA, "scenario-log.jsonl"))}
    stored = {x["file"]: x for x in read_jsonl(os.path.join(DATA, "truth.jsonl"))}
    bad = 0
    for name, m in metas.items():
        wl = open(os.path.join(DATA, "world", name + ".log"), encoding="utf-8").read().splitlines()
        tr = compute_truth(m, wl, DATA)
        tr["variant"] = m["variant"]
        old = stored.get(name + ".txt")
        same = old == tr
        bad += not same
        print(f"{'same' if same else 'DIFFERENT'}  {name}")
        if not same:
            print(f"   stored   {json.dumps(old)}\n   computed {json.dumps(tr)}")
    return 1 if bad else 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["list", "start", "stop", "run", "truth", "collect", "retruth"])
    p.add_argument("variant", nargs="?", choices=list(VARIANTS))
    p.add_argument("scenario", nargs="*", help="scenario names, or all (default for collect: every recorded one)")
    p.add_argument("--root", default=os.environ.get("LAB_REC_ROOT") or os.path.join(REPO, ".lab-rec"),
                   help="where the labs live, one directory per variant (default: $LAB_REC_ROOT, else REPO/.lab-rec)")
    a = p.parse_args()
    if a.command == "list":
        for s in SCENARIOS:
            print(f"{s['variant']:11} {s['name']:44} {s['note'][:110]}")
        return 0
    if a.command == "retruth":
        return retruth()
    if not a.variant:
        p.error(f"{a.command} needs a variant: {', '.join(VARIANTS)}")
    if a.command == "start":
        start(a.root, a.variant)
    elif a.command == "stop":
        stop(a.root, a.variant)
    elif a.command == "run":
        run(a.root, a.variant, a.scenario or ["all"])
    elif a.command == "truth":
        lab_truth(a.root, a.variant, a.scenario)
    else:
        collect(a.root, a.variant, a.scenario)
    return 0


if __name__ == "__main__":
    sys.exit(main())
