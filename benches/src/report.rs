//! Figures and their rendering (terminal and BENCHMARKS.md).

use crate::util::cmd_line;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Met,
    NotMet,
    /// No target: context only.
    Info,
    NotMeasured,
}

impl Verdict {
    pub fn of(met: bool) -> Verdict {
        if met {
            Verdict::Met
        } else {
            Verdict::NotMet
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "MET",
            Verdict::NotMet => "NOT MET",
            Verdict::Info => "—",
            Verdict::NotMeasured => "not measured",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Row {
    pub name: String,
    pub value: String,
    pub baseline: String,
    pub ratio: String,
    pub target: String,
    pub verdict: Verdict,
}

pub fn row(
    name: impl Into<String>,
    value: impl Into<String>,
    baseline: impl Into<String>,
    ratio: impl Into<String>,
    target: impl Into<String>,
    verdict: Verdict,
) -> Row {
    Row {
        name: name.into(),
        value: value.into(),
        baseline: baseline.into(),
        ratio: ratio.into(),
        target: target.into(),
        verdict,
    }
}

#[derive(Clone, Debug, Default)]
pub struct Section {
    pub title: String,
    /// /proc/loadavg (1-minute) when the figure started and ended: other work on the machine.
    pub load: Option<(String, String)>,
    pub rows: Vec<Row>,
    pub method: String,
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(title: &str) -> Section {
        Section {
            title: title.into(),
            ..Section::default()
        }
    }

    pub fn markdown(&self) -> String {
        let mut s = format!("## {}\n\n", self.title);
        s.push_str("| measurement | value | baseline | ratio | target | result |\n");
        s.push_str("|---|---|---|---|---|---|\n");
        for r in &self.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                r.name,
                r.value,
                r.baseline,
                r.ratio,
                r.target,
                r.verdict.as_str()
            ));
        }
        s.push('\n');
        if !self.method.is_empty() {
            s.push_str(&format!("Method: {}\n\n", self.method));
        }
        for n in &self.notes {
            s.push_str(&format!("- {n}\n"));
        }
        if let Some((a, b)) = &self.load {
            s.push_str(&format!(
                "- machine load average (1 min) at start / end of this figure: {a} / {b}\n"
            ));
        }
        if !self.notes.is_empty() || self.load.is_some() {
            s.push('\n');
        }
        s
    }

    pub fn print(&self) {
        println!("\n== {} ==", self.title);
        for r in &self.rows {
            println!(
                "  {:<58} {:>14}  base {:>14}  ratio {:>8}  target {:<16} {}",
                r.name,
                r.value,
                r.baseline,
                r.ratio,
                r.target,
                r.verdict.as_str()
            );
        }
        if !self.method.is_empty() {
            println!("  method: {}", self.method);
        }
        for n in &self.notes {
            println!("  note: {n}");
        }
    }
}

/// The machine description for the report header.
pub fn machine() -> Vec<(String, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':').map(|x| x.1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    vec![
        ("CPU".into(), cpu),
        ("cores (available to this process)".into(), cores),
        ("RAM".into(), mem),
        ("kernel".into(), kernel),
        (
            "git (/usr/bin/git, measured and used by the baselines)".into(),
            cmd_line("/usr/bin/git", &["--version"]),
        ),
        ("rustc".into(), cmd_line("rustc", &["--version"])),
    ]
}

pub fn document(
    command: &str,
    quick: bool,
    build_warning: Option<&str>,
    sections: &[Section],
) -> String {
    let date = cmd_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    let mut s = String::from("# gitgate benchmarks\n\n");
    s.push_str(
        "Generated by the `bench` binary of `benches/` (crate `gitgate-bench`); do not edit by hand.\n\n",
    );
    s.push_str(&format!("Command: `{command}`\n\n"));
    s.push_str(&format!("Date: {date}\n\n"));
    if quick {
        s.push_str("**Quick run (`--quick`): fewer iterations; figures are indicative only.**\n\n");
    }
    if let Some(w) = build_warning {
        s.push_str(&format!("**Warning: {w}.**\n\n"));
    }
    s.push_str("Machine:\n\n");
    for (k, v) in machine() {
        s.push_str(&format!("- {k}: {v}\n"));
    }
    s.push_str(
        "\nEvery ratio is against a baseline measured in the same run. Timings are wall clock. \
         MET / NOT MET compares the measured value with the target as stated; nothing is adjusted.\n\n",
    );
    let mut summary = String::from(
        "## Summary\n\n| figure | measurement | value | target | result |\n|---|---|---|---|---|\n",
    );
    for sec in sections {
        for r in &sec.rows {
            if r.verdict != Verdict::Info {
                summary.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    sec.title,
                    r.name,
                    if r.ratio != "—" && r.target.contains('×') {
                        r.ratio.clone()
                    } else {
                        r.value.clone()
                    },
                    r.target,
                    r.verdict.as_str()
                ));
            }
        }
    }
    s.push_str(&summary);
    s.push('\n');
    for sec in sections {
        s.push_str(&sec.markdown());
    }
    s
}

/// The 1-minute load average, as text.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
