"""Test helpers: run the runner as a subprocess, and write CSV fixtures in real-world layouts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

# The window most runner tests use: short enough to keep the suite fast, and it spans the 2005 2:1 split.
WINDOW = [
    "-p",
    "start",
    "2004-06-01",
    "-p",
    "end",
    "2006-12-31",
    "-p",
    "gb_n_estimators",
    "25",
    "-p",
    "walk_forward_folds",
    "3",
]


def run_runner(*args: str, outputs: Path, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python runner.py ARGS --outputs OUTPUTS`` in a subprocess, as a scheduler would."""
    full_env = {**os.environ, "AAPL_OUTPUTS_DIR": str(outputs), **(env or {})}
    return subprocess.run(
        [sys.executable, str(ROOT / "runner.py"), *args, "--outputs", str(outputs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def sample_frame(start: str = "2011-01-01", end: str = "2012-12-31", ticker: str = "AAPL") -> pd.DataFrame:
    from aapl_lib.data.sources import load_sample

    return load_sample(ticker, start, end)


def ar_prices(phi: float, start: str = "2004-01-01", end: str = "2008-12-31", seed: int = 7) -> pd.DataFrame:
    """Prices whose daily returns follow an AR(1) with coefficient ``phi``: truly (and plausibly) predictable.
    Open, high, low and volume are plausible around the close; ``phi`` 0 is a random walk with drift."""
    from aapl_lib.data.trading_calendar import trading_days

    days = trading_days(start, end)
    rng = np.random.default_rng(seed)
    shocks = rng.normal(0, 0.015, len(days))
    r = np.zeros(len(days))
    for t in range(1, len(days)):
        r[t] = 0.0004 + phi * (r[t - 1] - 0.0004) + shocks[t]
    close = 50 * np.cumprod(1 + r)
    open_ = np.concatenate([[close[0]], close[:-1]]) * (1 + rng.normal(0, 0.002, len(days)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.004, len(days))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.004, len(days))))
    return pd.DataFrame(
        {
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "adj_close": close,
            "volume": rng.integers(1_000_000, 5_000_000, len(days)),
        },
        index=pd.DatetimeIndex(days, name="date"),
    )


def write_classic_yahoo(path: Path, frame: pd.DataFrame) -> Path:
    """``Date,Open,High,Low,Close,Adj Close,Volume`` as Yahoo's download button wrote it."""
    out = frame.rename(
        columns={
            "open": "Open",
            "high": "High",
            "low": "Low",
            "close": "Close",
            "adj_close": "Adj Close",
            "volume": "Volume",
        }
    )
    out = out[["Open", "High", "Low", "Close", "Adj Close", "Volume"]].copy()
    out["Volume"] = out["Volume"].astype("int64")
    out.index = out.index.strftime("%Y-%m-%d")
    out.index.name = "Date"
    out.to_csv(path, lineterminator="\n")
    return path


def write_yfinance_multiheader(path: Path, frame: pd.DataFrame, ticker: str = "AAPL") -> Path:
    """yfinance's ``df.to_csv()`` of a download: ``Price,...`` / ``Ticker,...`` / ``Date,,,`` header."""
    cols = ["Adj Close", "Close", "High", "Low", "Open", "Volume"]
    src = {"Adj Close": "adj_close", "Close": "close", "High": "high", "Low": "low", "Open": "open", "Volume": "volume"}
    lines = ["Price," + ",".join(cols), "Ticker," + ",".join([ticker] * len(cols)), "Date" + "," * len(cols)]
    for day, row in frame.iterrows():
        values = [repr(float(row[src[c]])) if c != "Volume" else str(int(row["volume"])) for c in cols]
        lines.append(f"{day:%Y-%m-%d}," + ",".join(values))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_nasdaq(path: Path, frame: pd.DataFrame) -> Path:
    """Nasdaq.com's historical-data export: ``Date,Close/Last,Volume,Open,High,Low``, ``$`` prices with two
    decimals, MM/DD/YYYY dates, newest first, no adjusted close (``adj_close`` of ``frame`` is not written)."""
    lines = ["Date,Close/Last,Volume,Open,High,Low"]
    for day, row in frame.iloc[::-1].iterrows():
        prices = [f"${row[c]:.2f}" for c in ("open", "high", "low")]
        lines.append(f"{day:%m/%d/%Y},${row['close']:.2f},{int(row['volume'])}," + ",".join(prices))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


LOCK_FILES = (".lock", ".lock.owner.json")  # a copy is nobody's work in progress
UNCOPIED = shutil.ignore_patterns(*LOCK_FILES)


def hold_lock(env: dict, lock_path: Path) -> subprocess.Popen:
    """Another live process that holds the lock at ``lock_path`` until killed."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\nfrom aapl_lib.io.locks import PathLock\n"
            f"held = PathLock({str(lock_path)!r}, 'test holder').acquire()\n"
            "print('locked', flush=True)\ntime.sleep(300)",
        ],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def newest_batch(outputs: Path) -> tuple[Path, dict]:
    """The newest batch folder under ``outputs`` and its manifest."""
    newest = sorted((outputs / "batches").iterdir())[-1]
    return newest, json.loads((newest / "manifest.json").read_text())


class Project:
    """A throw-away copy of the project with its own outputs folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in ("aapl_lib", "notebooks", "params"):
            # __pycache__ too: copy2 keeps each source's mtime, so the compiled files stay valid, and a copy's
            # processes do not compile the package again where PYTHONDONTWRITEBYTECODE is set (conftest.py)
            shutil.copytree(ROOT / name, root / name)
        shutil.copy2(ROOT / "runner.py", root / "runner.py")
        self.outputs = root / "outputs"
        self.env = {**os.environ, "PYTHONPATH": str(root), "AAPL_OUTPUTS_DIR": str(self.outputs)}

    def clone(self, root: Path) -> Project:
        """A copy of this project, outputs (runs, reuse cache, registry) included: a rerun there reuses what
        ran here, as it would in the original."""
        shutil.copytree(
            self.root,
            root,
            symlinks=True,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(*LOCK_FILES),
        )
        copy = Project.__new__(Project)
        copy.root, copy.outputs = root, root / "outputs"
        copy.env = {**self.env, "PYTHONPATH": str(root), "AAPL_OUTPUTS_DIR": str(copy.outputs)}
        return copy

    def copy_outputs(self, dest: Path) -> Path:
        """A copy of this project's outputs folder (runs, reuse cache, registry) at ``dest``."""
        shutil.copytree(self.outputs, dest, symlinks=True, dirs_exist_ok=True, ignore=UNCOPIED)
        return dest

    def cmd(self, *args: str) -> list[str]:
        return [sys.executable, str(self.root / "runner.py"), *args]

    def run(
        self, *args: str, env: dict | None = None, timeout: int = 300, umask: int | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            self.cmd(*args),
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            preexec_fn=None if umask is None else (lambda: os.umask(umask)),
        )

    def latest(self) -> Path:
        return (self.outputs / "latest").resolve()

    def manifest(self, run_dir: Path | None = None) -> dict:
        return json.loads(((run_dir or self.latest()) / "manifest.json").read_text())

    def statuses(self, run_dir: Path | None = None) -> dict[str, str]:
        return {name: rec["status"] for name, rec in self.manifest(run_dir)["tasks"].items()}

    def executed(self, run_dir: Path | None = None) -> set[str]:
        return {name for name, status in self.statuses(run_dir).items() if status == "success"}

    def add_cell(self, notebook: str, code: str, position: int = 2) -> None:
        """Insert a code cell (after the parameters and title cells by default)."""
        path = self.root / "notebooks" / notebook
        nb = json.loads(path.read_text())
        nb["cells"].insert(
            position,
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"test-{position}",
                "metadata": {},
                "outputs": [],
                "source": code,
            },
        )
        path.write_text(json.dumps(nb, indent=1))

    def restore(self, notebook: str) -> None:
        shutil.copy2(ROOT / "notebooks" / notebook, self.root / "notebooks" / notebook)


def _runner_processes(path: Path) -> list[tuple[int, int, bool]]:
    """(pid, parent pid, is a warm process or its fork) of every live kernel launcher, forked kernel and warm
    process whose environment names ``path`` (their PYTHONPATH names the project copy they belong to)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            cmdline = (proc / "cmdline").read_bytes()
            zygote = b"aapl_lib.runner.kernels.fork_server" in cmdline
            if (
                (zygote or b"aapl_lib.runner.kernels.launcher" in cmdline)
                and str(path).encode() in (proc / "environ").read_bytes()
                and "zombie" not in (proc / "status").read_text()
            ):
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                found.append((int(proc.name), ppid, zygote))
        except (OSError, ValueError):
            continue
    return found


def kernels_under(project_root: Path) -> list[str]:
    """Live kernels and their launchers started by any runner of the project copy at ``project_root`` (a
    forked kernel's command line is its warm process's; it is told apart by having one as its parent)."""
    found = _runner_processes(project_root)
    warm = {pid for pid, _, zygote in found if zygote}
    return [str(pid) for pid, ppid, zygote in found if not zygote or ppid in warm]


def warm_processes_under(path: Path) -> list[int]:
    """Warm processes (kept between runs or not) whose project copy lies under ``path``."""
    found = _runner_processes(path)
    warm = {pid for pid, _, zygote in found if zygote}
    return [pid for pid, ppid, zygote in found if zygote and ppid not in warm]


def stop_warm_processes_under(path: Path) -> None:
    """End the warm processes a test's runs kept (they would otherwise idle on for warm_kernels_keep_seconds)."""
    for pid in warm_processes_under(path):
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass


class Links(HTMLParser):
    """The links, images and text of an HTML page (the run browser's pages)."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.imgs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])
        if tag == "img" and attrs.get("src"):
            self.imgs.append(attrs["src"])

    def handle_data(self, data):
        self.text.append(data)


def parse_html(html: str) -> Links:
    """The links, images and text of ``html``."""
    links = Links()
    links.feed(html)
    return links


def parse_page(path: Path) -> Links:
    """The links, images and text of the page at ``path``."""
    return parse_html(Path(path).read_text(encoding="utf-8"))


def scored_ledger(prices: pd.Series, predict) -> pd.DataFrame:
    """A ledger of daily forecasts made from ``prices`` (``predict(realised)`` gives each day's predicted return)
    and scored day by day the runner's way: each day's run appends its forecast, then scores what has closed."""
    from aapl_lib.tracking.ledger import append_new, empty, forecast_rows
    from aapl_lib.tracking.scoring import score_pending

    frame, cleaned, days = empty(), prices.to_frame("close"), prices.index
    for i in range(1, len(days) - 1):
        realised = prices.iloc[i + 1] / prices.iloc[i] - 1
        forecast = {
            "challenger": {
                "available": True,
                "last_price_date": f"{days[i]:%Y-%m-%d}",
                "for_date": f"{days[i + 1]:%Y-%m-%d}",
                "predicted_return": predict(realised),
            }
        }
        rows = forecast_rows(
            forecast,
            ticker="AAPL",
            run_id=f"run{i:03d}",
            cleaned=cleaned.iloc[: i + 1],
            published=("challenger", "champion"),
            models={"challenger": {"sha256": f"sha{i}", "trained_to": f"{days[i - 1]:%Y-%m-%d}"}},
            recorded_at=f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}",
        )
        frame, _, _ = append_new(frame, rows)
        score_pending(frame, cleaned.iloc[: i + 1], retrieved_at="2026-01-01T00:00:00Z", run_id=f"run{i:03d}")
    score_pending(frame, cleaned, retrieved_at="2026-01-01T00:00:00Z", run_id="last")
    return frame


def random_walk(index: pd.DatetimeIndex, seed: int = 3) -> pd.DataFrame:
    """A raw price frame as a source hands it to cleaning: a quiet random walk (|daily move| < 3 %)."""
    n = len(index)
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.uniform(-0.02, 0.02, n)))
    open_ = close * (1 + rng.uniform(-0.005, 0.005, n))
    return pd.DataFrame(
        {
            "open": open_,
            "high": np.maximum(open_, close) * 1.01,
            "low": np.minimum(open_, close) * 0.99,
            "close": close,
            "adj_close": close * 0.9,
            "volume": rng.integers(1_000_000, 1_200_000, n).astype("float64"),
        },
        index=pd.DatetimeIndex(index, name="date"),
    )


# An analyst's own feature module with honest and leaky functions (tests of the leakage guard and the gate, in
# process and through runner.py); conftest's `feature_dir` puts it on sys.path.
ANALYST_MODULE = "analyst_features_t10"
ANALYST_FEATURES_SOURCE = textwrap.dedent('''
    """An analyst's feature module: some honest features, some that peek at the future."""
    import pandas as pd


    def momentum(prices):
        return pd.DataFrame({"mom_10d": prices["close"].pct_change(10),
                             "up_days_5d": (prices["close"].diff() > 0).rolling(5).mean()})


    def centred_mean(prices):  # uses t+1 and t+2
        return pd.DataFrame({"centred_ma": prices["close"].rolling(5, center=True).mean() / prices["close"] - 1})


    def tomorrow(prices):  # NaN on the last day: the forecast row would silently vanish
        return pd.DataFrame({"next_ret": prices["close"].shift(-1) / prices["close"] - 1})


    def whole_sample_zscore(prices):  # normalised with the mean and std of every day, future ones included
        close = prices["close"]
        return pd.DataFrame({"close_z": (close - close.mean()) / close.std()})


    def filled_future(prices):  # a future value with the gap at the end filled: never NaN
        return pd.DataFrame({"next_close_ratio": prices["close"].shift(-2).ffill() / prices["close"]})


    def raises(prices):
        raise ValueError("column 'vwap' not found")


    def wrong_index(prices):
        return pd.DataFrame({"x": prices["close"].iloc[:-3].pct_change()})


    def text_column(prices):
        return pd.DataFrame({"label": ["up"] * len(prices)}, index=prices.index)


    def clashes(prices):
        return pd.DataFrame({"ret_1d": prices["close"].pct_change()})


    def a_series(prices):
        return prices["close"].pct_change()
''')


def analyst_spec(name: str) -> str:
    """``analyst_features_t10:name``: a function of the analyst's module as extra_features names it."""
    return f"{ANALYST_MODULE}:{name}"
