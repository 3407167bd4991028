"""Resident memory of benchmarked processes: idle and peak RSS per process, read from /proc.

Used by the benches (finality, devnet_memory, ipfs, bitswap, gateway_fetch, soak) so every
figure they print has the memory it took beside it. Linux only (on other systems the numbers
read as 0).

    mem = Memory({"validator-0": pid, ...})
    mem.mark("idle")          # RSS of every process now
    ...load...
    mem.mark("loaded")
    mem.print_table()         # idle, loaded and peak (VmHWM) per process, and the sum
"""
import threading
import time

MIB = 1 << 20


def status_kib(pid, field):
    """A `VmRSS`/`VmHWM` line of /proc/<pid>/status, in bytes (0 when the process is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def rss(pid):
    return status_kib(pid, "VmRSS")


def peak(pid):
    """Peak resident memory since the process started (the kernel's high-water mark)."""
    return status_kib(pid, "VmHWM")


class Memory:
    """Named processes whose RSS is recorded at marks, with a background sampler for a
    time series (used by the soak script)."""

    def __init__(self, pids):
        self.pids = dict(pids)
        self.marks = {}  # label -> {name: bytes}
        self.peaks = {}
        self.series = []  # (seconds since start, {name: bytes})
        self._stop = threading.Event()
        self._thread = None
        self._t0 = time.time()

    def mark(self, label):
        self.marks[label] = {n: rss(p) for n, p in self.pids.items()}
        for n, p in self.pids.items():
            self.peaks[n] = max(self.peaks.get(n, 0), peak(p))
        return self.marks[label]

    def sample_every(self, seconds):
        def loop():
            while not self._stop.wait(seconds):
                self.series.append((time.time() - self._t0, {n: rss(p) for n, p in self.pids.items()}))
        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()
        for n, p in self.pids.items():
            self.peaks[n] = max(self.peaks.get(n, 0), peak(p))

    def print_table(self, title="memory (RSS, MB)"):
        self.stop()
        labels = list(self.marks)
        print(title)
        header = f"  {'process':<24}" + "".join(f"{l:>12}" for l in labels) + f"{'peak':>12}"
        print(header)
        totals = [0] * (len(labels) + 1)
        for n in self.pids:
            row = [self.marks[l].get(n, 0) for l in labels] + [self.peaks.get(n, 0)]
            totals = [a + b for a, b in zip(totals, row)]
            print(f"  {n:<24}" + "".join(f"{v / 1e6:12.1f}" for v in row))
        print(f"  {'sum':<24}" + "".join(f"{v / 1e6:12.1f}" for v in totals)
              + "   (the peak sum adds peaks that need not coincide)")
        return totals


# Peak RSS per named process across a bench run (a name seen twice keeps its larger peak),
# for benches whose processes come and go (one daemon per round).
PEAKS = {}


def record_peak(name, pid):
    """Records `pid`'s peak RSS under `name`; call it just before stopping the process."""
    PEAKS[name] = max(PEAKS.get(name, 0), peak(pid))


def print_peaks(title="peak memory (RSS, MB)"):
    if not PEAKS:
        return
    print(title)
    for name, value in PEAKS.items():
        print(f"  {name:<40}{value / 1e6:10.1f}")
