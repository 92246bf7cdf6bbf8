#!/usr/bin/env python3
"""One live-migration trial of the test guest, judged from the guest's own heartbeat.

Boots the guest twice (source running, destination `-incoming defer`), migrates it with one
method, and prints one JSON line: whether the guest survived intact, total time, the
guest-visible blackout and bytes on the wire. Used by the end-to-end test (CLITests) and by
`make bench` (scripts/bench-migrate.sh); guest/build-guest.sh builds the kernel and initramfs.

Methods: dwcp (dwcp-migrate qemu/receive), qemu-tcp (QEMU's own tcp:), qemu-tcp-prealloc (the
same into a destination whose RAM was pre-faulted first, as `dwcp-migrate receive` does by
default and `-mem-prealloc` would), qemu-multifd-zstd, zstd-socat (exec: zstd -1 | socat). The verdict needs: the destination's heartbeat counter
continues where the source stopped (same boot id, no reboot or panic), and the guest's own
memory check counts no mismatched page through two full sweeps after the switchover.

With --netns A,B the source side runs in namespace A and the destination in B (addresses
10.200.0.1/10.200.0.2, as ../shared/tools/wan/wan-setup.sh makes them); else loopback.
--inject kill-receiver kills the DWCP receiver mid-copy: the trial then passes only if the
migration fails with exit 4 and the source VM keeps running with an intact heartbeat.
--inject no-receiver starts no DWCP receiver: the probe fails after QEMU's migration has begun,
and the trial passes only if that migration is cancelled, dwcp-migrate exits 4 and the source VM
keeps running.
--inject drop-connections kills the migration's TCP connections (ss -K) twice mid-copy: the
transport must resume and the migration pass the normal verdict.
--inject kill-receiver-after-switchover starts the destination with -S (it loads the VM but does
not run it, so the DWCP receiver waits for "running") and kills the receiver once the whole
stream is over: the confirmation is lost. The trial passes only if dwcp-migrate exits 4 saying
the source is left paused, and neither copy runs (source "postmigrate", destination paused, no
heartbeat on either).
--inject not-converging asks for a 1 ms downtime over a zstd-compressed stream and one pass
(`--max-rounds 1`), which the dirtying guest cannot meet: dwcp-migrate must give up with exit 1,
its migration cancelled and the source VM running intact, and the receiver, told by the sender
(the transport's `cancel`), must exit 1 within 3 s of it, its QEMU quit.
--inject interrupt-source sends SIGINT to dwcp-migrate qemu mid-copy (a zstd -19 stream, so the
copy is still under way): it must exit 130 with the source VM running intact (QEMU fails its
migration when the stream's socket closes), and the receiver, told by the sender, must exit 1
within 3 s of it, its QEMU quit.

--inject kill-destination-qemu kills the destination QEMU mid-copy: dwcp-migrate qemu must exit 4
with the source VM running intact, told by the receiver, which must exit 1 within 3 s of it with
an error message (it used to die of SIGPIPE without one, and its source reconnect for 30 s).

--inject kill-source-qemu kills the source QEMU mid-copy (the VM is lost with it): dwcp-migrate qemu
must exit 1 and cancel its transfer, and the receiver, told, must exit 1 within 3 s of it with its
QEMU quit (it used to wait out its 120 s idle timeout).

--inject early-source starts dwcp-migrate qemu 0.2 s after the receiver, without waiting for it to
say it is listening (it is still pre-faulting its VM's RAM then): the source's connections wait in
the receiver's backlog, and the migration must succeed as usual.

--method dwcp-reference (or --reference) gives both ends the files both QEMUs boot from, the
kernel and the initrd, as --reference. --inject wrong-reference gives the source both and the
receiver the initrd alone (use a compressed stream: on loopback, e.g. `-- --link-rate 100Mbit
--rtt 1`): the receiver must refuse the stream before decoding it (exit 2, naming both sets of
files) and quit its QEMU, and dwcp-migrate qemu must exit 4 with the source VM running intact.

--give-up-s N (QEMU's own methods) cancels a migration still running after N seconds and fails the
trial with "gave_up_s" in its JSON: on a link slower than the guest dirties, QEMU's plain precopy
never converges (scripts/bench-migrate.sh passes 300).

--capture FILE (zstd-socat method) tees QEMU's raw migration stream into FILE on its way to zstd,
for scripts/qemu-stream-pages.py.
TRIAL_LOG=FILE (environment, dwcp method): write both dwcp-migrate processes' whole stderr there
(the JSON line keeps its last 400 characters); with `-- -vvv` it holds the per-pass timeline.
"""
import argparse, json, os, re, shlex, signal, socket, subprocess, sys, tempfile, threading, time

HB = re.compile(r"^HB (\S+) (\d+) (\d+) (\d+) (\d+)$")


class QMP:
    def __init__(self, path, timeout=20):
        deadline = time.time() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX)
                self.s.connect(path)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        self.f = self.s.makefile("rw")
        json.loads(self.f.readline())
        self.cmd("qmp_capabilities")

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.f.write(json.dumps(msg) + "\n")
        self.f.flush()
        while True:
            reply = json.loads(self.f.readline())
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise RuntimeError(f"{name}: {reply['error'].get('desc')}")


class Watcher(threading.Thread):
    """Follows a serial log and timestamps each complete heartbeat line when it appears."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path, self.beats, self.text, self.stop = path, [], "", False

    def run(self):
        pending, pos = "", 0
        while not self.stop:
            try:
                with open(self.path, "rb") as f:
                    f.seek(pos)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            if chunk:
                pos += len(chunk)
                now = time.time()
                s = chunk.decode("utf-8", "replace")
                self.text += s
                pending += s
                *lines, pending = pending.split("\n")
                for line in lines:
                    m = HB.match(line.strip())
                    if m:
                        self.beats.append((now, m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
            time.sleep(0.002)


def ns_prefix(ns):
    return ["ip", "netns", "exec", ns] if ns else []


def kernel(guest):
    """The unpacked kernel if build-guest.sh made one (a PVH boot, seconds sooner under TCG)."""
    return f"{guest}/vmlinux" if os.path.exists(f"{guest}/vmlinux") else f"{guest}/vmlinuz"


def start_vm(args, work, name, ns, incoming, paused=False):
    log, qmp = f"{work}/{name}.log", f"{work}/{name}.qmp"
    cmd = ns_prefix(ns) + [
        "qemu-system-x86_64", "-machine", "q35", "-accel", "tcg", "-m", args.ram, "-display", "none",
        "-no-reboot", "-kernel", kernel(args.guest), "-initrd", f"{args.guest}/initrd.img",
        "-append", f"console=ttyS0 panic=-1 quiet dwcp.mib={args.mib} dwcp.rate={args.rate} dwcp.write={args.write} dwcp.sweep={args.sweep_s}",
        "-serial", f"file:{log}", "-monitor", "none", "-qmp", f"unix:{qmp},server=on,wait=off",
        "-daemonize", "-pidfile", f"{work}/{name}.pid"]
    if incoming:
        cmd += ["-incoming", "defer"]
    if paused:
        cmd += ["-S"]
    subprocess.run(cmd, check=True)
    return log, qmp


def kill_vm(work, name):
    """Kills a VM and waits until it is gone (its listening port must be free for the next trial)."""
    try:
        pid = int(open(f"{work}/{name}.pid").read())
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 10
        while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
            time.sleep(0.02)
    except (OSError, ValueError):
        pass


def vm_gone(work, name, timeout=3):
    """Whether a VM has exited (within `timeout` seconds): QEMU removes its pid file as it quits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if not os.path.exists(f"/proc/{int(open(f'{work}/{name}.pid').read())}"):
                return True
        except (OSError, ValueError):
            return True
        time.sleep(0.05)
    return False


def wait_until(cond, timeout, what):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


class GaveUp(RuntimeError):
    """A migration cancelled by `--give-up-s`: the report tells it from a broken trial."""
    def __init__(self, seconds, ram, message):
        super().__init__(message)
        self.seconds, self.ram = seconds, ram


def qemu_native(args, src, dst, method, dst_ip, port):
    caps = [{"capability": "events", "state": True}]
    params = {"downtime-limit": args.downtime_ms, "max-bandwidth": 1 << 40}
    if method == "qemu-multifd-zstd":
        caps.append({"capability": "multifd", "state": True})
        for q in (src, dst):
            q.cmd("migrate-set-capabilities", capabilities=caps)
            q.cmd("migrate-set-parameters", **{"multifd-compression": "zstd", "multifd-channels": 4})
        uri_in = uri_out = f"tcp:{dst_ip}:{port}"
    elif method == "zstd-socat":
        for q in (src, dst):
            q.cmd("migrate-set-capabilities", capabilities=caps)
        uri_in = f"exec:socat -u TCP-LISTEN:{port},reuseaddr - | zstd -d -q"
        tap = f"tee {shlex.quote(args.capture)} | " if args.capture else ""
        uri_out = f"exec:{tap}zstd -1 -T0 -q | socat -u - TCP:{dst_ip}:{port}"
    else:
        for q in (src, dst):
            q.cmd("migrate-set-capabilities", capabilities=caps)
        uri_in = uri_out = f"tcp:{dst_ip}:{port}"
        if method == "qemu-tcp-prealloc":  # before the clock starts, as dwcp's receiver does it
            dst.cmd("qom-set", path="/objects/pc.ram", property="prealloc-threads", value=os.cpu_count())
            dst.cmd("qom-set", path="/objects/pc.ram", property="prealloc", value=True)
    src.cmd("migrate-set-parameters", **params)
    dst.cmd("migrate-incoming", uri=uri_in)
    time.sleep(0.3)
    t0 = time.time()
    src.cmd("migrate", uri=uri_out)
    stall = 0.0  # seconds QEMU left query-migrate unanswered (> 0.5 s at a time), as dwcp-migrate counts them
    while True:
        asked = time.time()
        info = src.cmd("query-migrate")
        if time.time() - asked > 0.5:
            stall += time.time() - asked
        if info.get("status") in ("completed", "failed", "cancelled"):
            break
        if args.give_up_s and time.time() - t0 > args.give_up_s:  # a link slower than the guest dirties
            src.cmd("migrate_cancel")
            ram = info.get("ram", {})
            raise GaveUp(args.give_up_s, ram, f"QEMU's migration had not converged after {args.give_up_s:g} s "
                               f"({ram.get('transferred', 0) / 1e6:.0f} MB sent, {ram.get('dirty-sync-count')} passes): cancelled")
        time.sleep(0.02)
    if info["status"] != "completed":
        raise RuntimeError(f"QEMU migration {info['status']}: {info.get('error-desc')}")
    wait_until(lambda: dst.cmd("query-status")["status"] == "running", 60, "destination VM running")
    ram = info.get("ram", {})
    return {"total_s": round(time.time() - t0, 3), "tool_wire_bytes": ram.get("transferred"), "rounds": ram.get("dirty-sync-count"),
            "qemu_downtime_ms": info.get("downtime"), "qemu_setup_ms": info.get("setup-time"), "qemu_stall_s": round(stall, 1)}


def reference_args(args, receiver=False):
    """`--reference` for the files both QEMUs boot from (the kernel, then the initrd), with
    --reference; --inject wrong-reference gives the receiver the initrd alone."""
    if not args.reference:
        return []
    files = [kernel(args.guest), f"{args.guest}/initrd.img"]
    if receiver and args.inject == "wrong-reference":
        files = files[1:]
    return [a for f in files for a in ("--reference", f)]


def start_receiver(args, dst_qmp, dst_ns, dst_ip, port):
    """Starts `dwcp-migrate receive` (None when the trial wants no receiver). It pre-faults its
    VM's RAM before it listens, which takes seconds under TCG: started as soon as the
    destination QEMU is, that overlaps the source guest's boot (the clock starts later)."""
    if args.inject == "no-receiver":
        return None
    return subprocess.Popen(ns_prefix(dst_ns) + [f"{args.bin}/dwcp-migrate", "receive", "--listen", f"{dst_ip}:{port}",
                                                 "--qmp", dst_qmp, "--json", "-v"] + reference_args(args, receiver=True),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def dwcp(args, work, src_qmp, dst_qmp, src_ns, dst_ns, dst_ip, port, ws, recv):
    receiver_ready_lines = []
    if recv is None:  # None again for a trial without a receiver
        recv = start_receiver(args, dst_qmp, dst_ns, dst_ip, port)
    if recv:
        if args.inject == "early-source":
            time.sleep(0.2)  # bound by now, still pre-faulting: the source waits in its backlog
        else:
            # "listening on port N": the receiver is ready (its VM's RAM pre-faulted before that)
            while True:
                ready = recv.stderr.readline()
                if not ready or "listening" in ready:
                    break
                receiver_ready_lines.append(ready.strip())
            if "listening" not in ready:
                raise RuntimeError(f"dwcp-migrate receive did not start: {ready.strip()}")
    t0 = time.time()
    cmd = ns_prefix(src_ns) + [f"{args.bin}/dwcp-migrate", "qemu", "--qmp", src_qmp, "--to", f"{dst_ip}:{port}",
                               "--json", "--max-downtime", f"{args.downtime_ms}ms"] + reference_args(args) + args.dwcp_args
    if args.inject == "not-converging":
        cmd += ["--max-downtime", "1ms", "--max-rounds", "1", "--codec", "zstd:3"]
    if args.inject == "interrupt-source":
        cmd += ["--codec", "zstd:19"]
    send = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if args.inject == "kill-receiver":
        time.sleep(args.kill_after)
        recv.send_signal(signal.SIGKILL)
    elif args.inject == "kill-receiver-after-switchover":
        # The source VM stops for the switchover; a second without a heartbeat means the last
        # pass is over and the receiver waits for a VM that -S keeps paused: kill it unconfirmed.
        wait_until(lambda: ws.beats and time.time() - ws.beats[-1][0] > 1.0, 120, "source switchover")
        recv.send_signal(signal.SIGKILL)
    elif args.inject == "interrupt-source":
        time.sleep(args.kill_after)
        send.send_signal(signal.SIGINT)
    elif args.inject == "kill-destination-qemu":
        time.sleep(args.kill_after)
        kill_vm(work, "dst")
    elif args.inject == "kill-source-qemu":
        time.sleep(args.kill_after)
        kill_vm(work, "src")
    elif args.inject == "drop-connections":
        # Kill every established migration connection twice: the transport must resume.
        for _ in range(2):
            time.sleep(args.kill_after)
            subprocess.run(ns_prefix(src_ns) + ["ss", "-K", "-tn", "state", "established", f"( dport = :{port} )"],
                           capture_output=True)
    out, err = send.communicate(timeout=600)
    elapsed = time.time() - t0
    rout, rerr = recv.communicate(timeout=120) if recv else ("", "")
    receiver_lag = time.time() - t0 - elapsed
    if os.environ.get("TRIAL_LOG"):  # the tools' whole stderr, for a -vvv look at one trial
        with open(os.environ["TRIAL_LOG"], "w") as log:
            log.write(f"== source\n{err}\n== receiver\n{rerr}\n")
    lines = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    done = next((l for l in lines if l.get("event") == "done"), {})
    return {"total_s": round(elapsed, 3), "exit": send.returncode, "receiver_exit": recv.returncode if recv else None,
            "receiver_lag_s": round(receiver_lag, 3), "stderr": err.strip()[-400:],
            "receiver_stderr": rerr.strip()[-400:], "receiver_ready_lines": receiver_ready_lines, "tool_wire_bytes": done.get("wire_bytes"),
            "rounds": done.get("rounds"), "dwcp_downtime_ms": done.get("downtime_ms"),
            "qemu_downtime_ms": done.get("qemu_downtime_ms"), "reconnects": done.get("reconnects"), "qemu_stall_s": done.get("qemu_stall_s"), "qemu_setup_ms": done.get("qemu_setup_ms"), "codec_mix": done.get("codec_mix"), "reference_bytes": done.get("reference_bytes"), "plan": next((l for l in reversed(lines) if l.get("event") == "plan"), None)}


def veth_tx(ns):
    if not ns:
        return None
    out = subprocess.run(["ip", "-n", ns, "-s", "-j", "link"], capture_output=True, text=True).stdout
    return sum(l.get("stats64", {}).get("tx", {}).get("bytes", 0) for l in json.loads(out) if l["ifname"] != "lo")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="dwcp", choices=["dwcp", "dwcp-reference", "qemu-tcp", "qemu-tcp-prealloc", "qemu-multifd-zstd", "zstd-socat"],
                    help="dwcp-reference: dwcp with --reference")
    ap.add_argument("--reference", action="store_true", help="dwcp: give both ends the guest's kernel and initrd as --reference")
    ap.add_argument("--guest", required=True, help="directory with vmlinuz and initrd.img")
    ap.add_argument("--bin", default=".build/release", help="directory with dwcp-migrate")
    ap.add_argument("--ram", default="524292K", help="guest RAM (not a multiple of 256 KiB: QEMU 7.2 TCG bug)")
    ap.add_argument("--mib", type=int, default=64, help="guest workload region, MiB")
    ap.add_argument("--rate", type=float, default=8, help="guest dirtying rate, MiB/s")
    ap.add_argument("--write", default="page", choices=["page", "line"], help="guest writes whole pages or single lines")
    ap.add_argument("--warmup", type=float, default=2, help="seconds the workload runs before migrating")
    ap.add_argument("--sweep-s", type=float, default=2.5, help="seconds the guest takes to check its whole region once")
    ap.add_argument("--downtime-ms", type=int, default=300)
    ap.add_argument("--give-up-s", type=float, help="QEMU's own methods: cancel a migration still running after this many seconds "
                                                   "(on a link slower than the guest dirties, QEMU's precopy never converges)")
    ap.add_argument("--netns", help="SRC_NS,DST_NS")
    ap.add_argument("--capture", help="with zstd-socat: also write QEMU's raw migration stream to this file (scripts/qemu-stream-pages.py reads it)")
    ap.add_argument("--port", type=int, default=7460)
    ap.add_argument("--inject", choices=["kill-receiver", "no-receiver", "drop-connections", "kill-receiver-after-switchover", "not-converging",
                                         "interrupt-source", "kill-destination-qemu", "kill-source-qemu", "early-source", "wrong-reference"])
    ap.add_argument("--kill-after", type=float, default=1.5)
    ap.add_argument("--sweeps-after", type=int, default=2, help="guest memory sweeps to wait for after the switchover")
    ap.add_argument("dwcp_args", nargs="*", help="extra dwcp-migrate qemu arguments (after --)")
    args = ap.parse_args()
    method = args.method  # as reported
    if args.method == "dwcp-reference" or args.inject == "wrong-reference":
        args.method, args.reference = "dwcp", True
    if args.capture and args.method != "zstd-socat":
        ap.error("--capture needs --method zstd-socat (the one method with a pipe to tap)")
    args.bin = os.path.abspath(args.bin)
    src_ns, dst_ns = (args.netns.split(",") if args.netns else (None, None))
    dst_ip = "10.200.0.2" if args.netns else "127.0.0.1"
    work = tempfile.mkdtemp(prefix="dwcp-trial-")
    result = {"method": method, "ram": args.ram, "mib": args.mib, "dirty_mib_s": args.rate, "write": args.write,
              "link": "netns" if args.netns else "loopback"}
    started = time.time()
    recv = None
    try:
        # QMP takes one client at a time: the harness connects only for QEMU's own methods.
        src_log, src_qmp = start_vm(args, work, "src", src_ns, False)
        dst_log, dst_qmp = start_vm(args, work, "dst", dst_ns, True, paused=args.inject == "kill-receiver-after-switchover")
        ws, wd = Watcher(src_log), Watcher(dst_log)
        ws.start(); wd.start()
        # An early source must find the receiver still pre-faulting: that one starts after the warmup.
        recv = start_receiver(args, dst_qmp, dst_ns, dst_ip, args.port) if args.method == "dwcp" and args.inject != "early-source" else None
        wait_until(lambda: any(b[4] >= 1 for b in ws.beats), 120, "source guest workload ready (one full sweep)")
        result["booted_s"] = round(time.time() - started, 3)
        time.sleep(args.warmup)
        tx0 = veth_tx(src_ns)
        t0 = time.time()
        if args.method == "dwcp":
            result.update(dwcp(args, work, src_qmp, dst_qmp, src_ns, dst_ns, dst_ip, args.port, ws, recv))
        else:
            result.update(qemu_native(args, QMP(src_qmp), QMP(dst_qmp), args.method, dst_ip, args.port))
        result.setdefault("total_s", round(time.time() - t0, 3))
        if tx0 is not None:
            result["wire_bytes"] = veth_tx(src_ns) - tx0
        if args.inject in ("kill-receiver", "no-receiver", "not-converging", "interrupt-source", "kill-destination-qemu", "wrong-reference"):
            # Expected: exit 4, source still running and its heartbeat still advancing (and with
            # no receiver at all, QEMU's migration cancelled: it had started before the probe).
            # A migration that gave up: exit 1, QEMU's migration cancelled, and the receiver
            # gone at once with exit 1, its QEMU quit.
            n = len(ws.beats)
            time.sleep(1.5)
            src = QMP(src_qmp)
            status = src.cmd("query-status")["status"]
            migration = src.cmd("query-migrate").get("status")
            last = ws.beats[-1] if ws.beats else None
            result.update({"source_status": status, "source_beats_after": len(ws.beats) - n,
                           "source_mismatches": last[3] if last else None, "source_migration": migration})
            giving_up = args.inject in ("not-converging", "interrupt-source")
            if giving_up:
                result["destination_qemu_quit"] = vm_gone(work, "dst")
            expected_exit = {"not-converging": 1, "interrupt-source": 130}.get(args.inject, 4)
            if args.inject == "wrong-reference":  # refused by the receiver before it decoded a byte
                told = (result.get("receiver_exit") == 2 and "are not this receiver's" in result.get("receiver_stderr", "")
                        and "are not this receiver's" in result.get("stderr", "") and vm_gone(work, "dst"))
            else:
                told = args.inject != "kill-destination-qemu" or (
                    result.get("receiver_exit") == 1 and result["receiver_lag_s"] < 3
                    and "dwcp-migrate: error:" in result.get("receiver_stderr", "")
                    and "the receiver failed and ended the transfer" in result.get("stderr", ""))
            result["ok"] = (result.get("exit") == expected_exit and status == "running" and len(ws.beats) - n >= 5
                            and last is not None and last[3] == 0 and told
                            and (args.inject not in ("no-receiver", "not-converging") or migration == "cancelled")
                            and (not giving_up or (result.get("receiver_exit") == 1 and result["receiver_lag_s"] < 3
                                                   and "cancelled the transfer" in result.get("receiver_stderr", "")
                                                   and result["destination_qemu_quit"])))
            return result
        if args.inject == "kill-source-qemu":
            # Expected: exit 1, and the destination told at once: receiver exit 1, QEMU quit.
            result["destination_qemu_quit"] = vm_gone(work, "dst")
            result["ok"] = (result.get("exit") == 1 and result.get("receiver_exit") == 1 and result["receiver_lag_s"] < 3
                            and "cancelled the transfer" in result.get("receiver_stderr", "")
                            and result["destination_qemu_quit"])
            return result
        if args.inject == "kill-receiver-after-switchover":
            # Expected: exit 4 saying the source is left paused, and no copy of the VM running.
            n_src, n_dst = len(ws.beats), len(wd.beats)
            time.sleep(1.5)
            src_status = QMP(src_qmp).cmd("query-status")["status"]
            dst_status = QMP(dst_qmp).cmd("query-status")["status"]
            result.update({"source_status": src_status, "destination_status": dst_status,
                           "source_beats_after": len(ws.beats) - n_src, "destination_beats": len(wd.beats)})
            result["ok"] = (result.get("exit") == 4 and "left paused" in result.get("stderr", "")
                            and src_status != "running" and dst_status != "running"
                            and len(ws.beats) == n_src and len(wd.beats) == n_dst == 0)
            return result
        wait_until(lambda: len(wd.beats) > 0, 60, "destination heartbeat")
        migrated = time.time()
        first = wd.beats[0]
        sweeps_at_switch = first[4]
        try:
            wait_until(lambda: wd.beats[-1][4] >= sweeps_at_switch + args.sweeps_after, 60, "two memory sweeps on the destination")
        except TimeoutError:
            pass
        time.sleep(0.3)
        result["sweeps_s"] = round(time.time() - migrated, 3)
        ws.stop = wd.stop = True
        src_last = ws.beats[-1]
        dst_last = wd.beats[-1]
        text = wd.text
        result.update({
            "src_last": src_last[2], "dst_first": first[2], "dst_last": dst_last[2],
            "boot_same": first[1] == src_last[1] and dst_last[1] == src_last[1],
            "mismatches": dst_last[3], "sweeps_after": dst_last[4] - sweeps_at_switch,
            "rebooted": ("READY" in text) or ("Linux version" in text),
            "panic": "Kernel panic" in text or "panic" in text.lower(),
            "blackout_ms": round((first[0] - src_last[0]) * 1000, 1),
        })
        result["ok"] = (result["boot_same"] and 1 <= first[2] - src_last[2] <= 2 and result["mismatches"] == 0
                        and result["sweeps_after"] >= args.sweeps_after and not result["rebooted"] and not result["panic"]
                        and result.get("exit", 0) == 0)
        return result
    except Exception as e:  # reported, not raised: the caller judges the JSON
        result["ok"] = False
        result["error"] = f"{type(e).__name__}: {e}"
        if isinstance(e, GaveUp):
            result.update({"gave_up_s": e.seconds, "tool_wire_bytes": e.ram.get("transferred"), "rounds": e.ram.get("dirty-sync-count")})
        return result
    finally:
        if recv and recv.poll() is None:  # a trial that failed before its migration
            recv.kill()
            recv.communicate()
        kill_vm(work, "src")
        kill_vm(work, "dst")
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    r = main()
    print(json.dumps(r), flush=True)
    sys.exit(0 if r.get("ok") else 1)
