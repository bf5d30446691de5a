//! How good a model is on labelled SYNs: top-1/top-2 accuracy by OS and by
//! family, per-class recall, confusion matrices, coverage and calibration.

use std::fmt;

use serde::Serialize;

use super::classes::{Family, Os, N_FAMILY, N_OS};
use super::labelled::counted;
use super::learn::Sample;
use super::model::{Classification, Model};

/// Confidence bands of the calibration table (lower bounds; the last band
/// includes 1.0).
pub const BANDS: [f32; 8] = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99];

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Accuracy {
    pub top1: f64,
    pub top2: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassRecall {
    pub class: &'static str,
    /// Labelled SYNs of this class.
    pub n: u64,
    /// Share of them whose top-1 answer was this class.
    pub recall: f64,
}

/// Rows are the true class, columns the answer, in `labels` order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Confusion {
    pub labels: Vec<&'static str>,
    pub matrix: Vec<Vec<u64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    /// Answers whose confidence fell in the band.
    pub n: u64,
    /// Share of those answers that were right; `None` (JSON `null`) for
    /// an empty band, which measured nothing.
    pub accuracy: Option<f64>,
    /// Mean stated confidence in the band (a calibrated model has
    /// `accuracy` ≈ `mean_confidence`); `None` for an empty band.
    pub mean_confidence: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    pub samples: u64,
    pub os: Accuracy,
    pub family: Accuracy,
    /// Share of answers other than `unknown`.
    pub coverage: f64,
    /// Accuracy of the answers given with confidence ≥ 0.9 (the calibration
    /// target is ≥ 0.9; `None` when there were none), and how many there
    /// were.
    pub confident_accuracy: Option<f64>,
    pub confident_share: f64,
    pub os_recall: Vec<ClassRecall>,
    pub family_recall: Vec<ClassRecall>,
    pub os_confusion: Confusion,
    pub family_confusion: Confusion,
    pub calibration: Vec<Band>,
}

/// A band edge as the decimal it stands for (0.6, not the f32's
/// 0.6000000238418579).
fn hundredths(edge: f32) -> f64 {
    (f64::from(edge) * 100.0).round() / 100.0
}

/// A mean of confidences to the four decimals records give them: their
/// `f32` values widened would print as 0.6161499917507172.
fn four_decimals(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Accumulates classifications and their labels.
#[derive(Clone, Debug)]
pub struct Evaluator {
    n: u64,
    os_top1: u64,
    os_top2: u64,
    fam_top1: u64,
    fam_top2: u64,
    covered: u64,
    os_conf: [[u64; N_OS]; N_OS],
    fam_conf: [[u64; N_FAMILY]; N_FAMILY],
    band_n: [u64; BANDS.len()],
    band_right: [u64; BANDS.len()],
    band_conf: [f64; BANDS.len()],
}

impl Default for Evaluator {
    fn default() -> Self {
        Evaluator {
            n: 0,
            os_top1: 0,
            os_top2: 0,
            fam_top1: 0,
            fam_top2: 0,
            covered: 0,
            os_conf: [[0; N_OS]; N_OS],
            fam_conf: [[0; N_FAMILY]; N_FAMILY],
            band_n: [0; BANDS.len()],
            band_right: [0; BANDS.len()],
            band_conf: [0.0; BANDS.len()],
        }
    }
}

impl Evaluator {
    pub fn add(&mut self, c: &Classification, truth: Os) {
        self.n += 1;
        let ranked = c.scores.ranked();
        let right = c.os == truth;
        self.os_top1 += u64::from(right);
        // A class the model gave no probability is not among its two
        // answers, whatever place the ranking's tie order puts it in.
        self.os_top2 += u64::from(
            ranked
                .iter()
                .take(2)
                .any(|&o| o == truth && c.scores.get(o) > 0.0),
        );
        let tf = truth.family();
        let franked = c.family_scores.ranked();
        self.fam_top1 += u64::from(c.family == tf);
        self.fam_top2 += u64::from(
            franked
                .iter()
                .take(2)
                .any(|&f| f == tf && c.family_scores.get(f) > 0.0),
        );
        self.covered += u64::from(c.os != Os::Unknown);
        self.os_conf[truth.index()][c.os.index()] += 1;
        self.fam_conf[tf.index()][c.family.index()] += 1;
        let band = BANDS
            .iter()
            .rposition(|&lo| c.confidence >= lo)
            .unwrap_or(0);
        self.band_n[band] += 1;
        self.band_right[band] += u64::from(right);
        self.band_conf[band] += f64::from(c.confidence);
    }

    pub fn finish(&self) -> EvalReport {
        let share = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let os_recall = Os::ALL
            .iter()
            .map(|&o| {
                let row = &self.os_conf[o.index()];
                let n: u64 = row.iter().sum();
                ClassRecall {
                    class: o.name(),
                    n,
                    recall: share(row[o.index()], n),
                }
            })
            .filter(|r| r.n > 0)
            .collect();
        let family_recall = Family::ALL
            .iter()
            .map(|&f| {
                let row = &self.fam_conf[f.index()];
                let n: u64 = row.iter().sum();
                ClassRecall {
                    class: f.name(),
                    n,
                    recall: share(row[f.index()], n),
                }
            })
            .filter(|r| r.n > 0)
            .collect();
        let calibration = BANDS
            .iter()
            .enumerate()
            .map(|(i, &from)| Band {
                from: hundredths(from),
                to: hundredths(BANDS.get(i + 1).copied().unwrap_or(1.0)),
                n: self.band_n[i],
                accuracy: measured(self.band_n[i], || share(self.band_right[i], self.band_n[i])),
                mean_confidence: measured(self.band_n[i], || {
                    four_decimals(self.band_conf[i] / self.band_n[i] as f64)
                }),
            })
            .collect::<Vec<_>>();
        let confident = BANDS.iter().position(|&b| b >= 0.9).unwrap_or(0);
        let (cn, cr) = (
            self.band_n[confident..].iter().sum::<u64>(),
            self.band_right[confident..].iter().sum::<u64>(),
        );
        EvalReport {
            samples: self.n,
            os: Accuracy {
                top1: share(self.os_top1, self.n),
                top2: share(self.os_top2, self.n),
            },
            family: Accuracy {
                top1: share(self.fam_top1, self.n),
                top2: share(self.fam_top2, self.n),
            },
            coverage: share(self.covered, self.n),
            confident_accuracy: measured(cn, || share(cr, cn)),
            confident_share: share(cn, self.n),
            os_recall,
            family_recall,
            os_confusion: Confusion {
                labels: Os::ALL.iter().map(|o| o.name()).collect(),
                matrix: self.os_conf.iter().map(|r| r.to_vec()).collect(),
            },
            family_confusion: Confusion {
                labels: Family::ALL.iter().map(|f| f.name()).collect(),
                matrix: self.fam_conf.iter().map(|r| r.to_vec()).collect(),
            },
            calibration,
        }
    }
}

/// Classifies every sample with `model` and reports how it did.
pub fn evaluate<'a>(model: &Model, samples: impl IntoIterator<Item = Sample<'a>>) -> EvalReport {
    let mut ev = Evaluator::default();
    for s in samples {
        let c = model.classify(s.obs, s.p0f);
        ev.add(&c, s.os);
    }
    ev.finish()
}

/// A share to a tenth of a percent; a share below 1 never reads 100.0%,
/// one above 0 never 0.0% (2,999 right of 3,000 is 99.9%).
fn pct(x: f64) -> String {
    let mut tenths = (x * 1000.0).round();
    if x < 1.0 {
        tenths = tenths.min(999.0);
    }
    if x > 0.0 {
        tenths = tenths.max(1.0);
    }
    format!("{:.1}%", tenths / 10.0)
}

/// A share over `n` answers, or `None` when there were none: 0% would
/// read as measured.
fn measured(n: u64, share: impl FnOnce() -> f64) -> Option<f64> {
    (n > 0).then(share)
}

/// `pct`, or `-` for nothing measured.
fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_string(), pct)
}

impl fmt::Display for Confusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only rows and columns with something in them, so the table fits.
        let used: Vec<usize> = (0..self.labels.len())
            .filter(|&i| {
                self.matrix.get(i).is_some_and(|r| r.iter().any(|&v| v > 0))
                    || self.matrix.iter().any(|r| r.get(i).is_some_and(|&v| v > 0))
            })
            .collect();
        write!(f, "{:>12} |", "truth\\answer")?;
        for &j in &used {
            write!(f, "{:>9}", self.labels.get(j).unwrap_or(&""))?;
        }
        writeln!(f)?;
        for &i in &used {
            write!(f, "{:>12} |", self.labels.get(i).unwrap_or(&""))?;
            for &j in &used {
                let v = self
                    .matrix
                    .get(i)
                    .and_then(|r| r.get(j))
                    .copied()
                    .unwrap_or(0);
                write!(f, "{v:>9}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "labelled SYNs: {}", self.samples)?;
        writeln!(
            f,
            "by OS:     top-1 {}  top-2 {}",
            pct(self.os.top1),
            pct(self.os.top2)
        )?;
        writeln!(
            f,
            "by family: top-1 {}  top-2 {}",
            pct(self.family.top1),
            pct(self.family.top2)
        )?;
        writeln!(
            f,
            "coverage (answer other than unknown): {}",
            pct(self.coverage)
        )?;
        writeln!(
            f,
            "confidence >= 0.9: {} of answers, {} right",
            pct(self.confident_share),
            opt_pct(self.confident_accuracy)
        )?;
        for (title, recalls) in [
            ("\nrecall by OS:", &self.os_recall),
            ("recall by family:", &self.family_recall),
        ] {
            writeln!(f, "{title}")?;
            for r in recalls {
                let n = counted(r.n, "SYN", "SYNs");
                writeln!(f, "  {:<10} {:>7}  ({n})", r.class, pct(r.recall))?;
            }
        }
        writeln!(f, "\nconfusion by OS (rows: label, columns: answer):")?;
        write!(f, "{}", self.os_confusion)?;
        writeln!(f, "\nconfusion by family:")?;
        write!(f, "{}", self.family_confusion)?;
        writeln!(
            f,
            "\ncalibration (confidence band: answers, accuracy, mean confidence):"
        )?;
        for b in &self.calibration {
            writeln!(
                f,
                "  [{:.2}, {:.2}{} {:>7}  {:>7}  {}",
                b.from,
                b.to,
                if b.to >= 1.0 { "]" } else { ")" },
                b.n,
                opt_pct(b.accuracy),
                b.mean_confidence
                    .map_or_else(|| "-".to_string(), |c| format!("{c:.3}"))
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::model::{FamilyScores, OsScores};
    use crate::classify::testdata::{labelled_set, BROWSER_STACKS};
    use crate::craft::Stack;

    fn report(stacks: &[Stack], per: u32, seed: u64) -> EvalReport {
        let model = Model::builtin().unwrap();
        let set = labelled_set(stacks, per, seed);
        evaluate(
            &model,
            set.iter().map(|(obs, os)| Sample {
                obs,
                p0f: None,
                os: *os,
            }),
        )
    }

    #[test]
    fn empty_bands_measured_nothing() {
        let set = labelled_set(&BROWSER_STACKS[..1], 1, 1);
        let (obs, os) = &set[0];
        let mut ev = Evaluator::default();
        ev.add(&Model::builtin().unwrap().classify(obs, None), *os);
        let r = ev.finish();
        let used: Vec<_> = r.calibration.iter().filter(|b| b.n > 0).collect();
        assert_eq!(used.len(), 1);
        assert!(used[0].accuracy.is_some() && used[0].mean_confidence.is_some());
        // The mean is written as the record writes the confidence (four
        // decimals), not as its widened f32.
        let mean = used[0].mean_confidence.unwrap();
        assert!(mean.to_string().len() <= 6, "{mean}");
        let empty = r.calibration.iter().find(|b| b.n == 0).unwrap();
        for b in r.calibration.iter().filter(|b| b.n == 0) {
            assert_eq!((b.accuracy, b.mean_confidence), (None, None), "{b:?}");
        }
        let json = serde_json::to_value(&r).unwrap();
        let band = json["calibration"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["n"] == 0)
            .unwrap();
        assert!(
            band["accuracy"].is_null() && band["mean_confidence"].is_null(),
            "{band}"
        );
        let text = r.to_string();
        let head = format!("  [{:.2}, {:.2})", empty.from, empty.to);
        let line = text.lines().find(|l| l.starts_with(&head)).unwrap();
        assert!(line.ends_with("-  -"), "{line:?}");
    }

    #[test]
    fn builtin_model_meets_targets_on_realistic_browser_syns() {
        let r = report(&BROWSER_STACKS, 400, 7);
        println!("{r}");
        assert_eq!(r.samples, 2000);
        assert!(r.os.top1 >= 0.75, "OS top-1 {}", r.os.top1);
        assert!(r.family.top1 >= 0.99, "family top-1 {}", r.family.top1);
        assert!(r.os.top2 >= 0.95, "OS top-2 {}", r.os.top2);
        assert!(
            r.confident_accuracy >= Some(0.9),
            "confident {:?}",
            r.confident_accuracy
        );
        assert!(r.coverage >= 0.99);
        // macOS and iOS share a stack: neither may be claimed with
        // certainty, so both recalls stay well below 100%.
        for rec in &r.os_recall {
            if rec.class == "macOS" || rec.class == "iOS" {
                assert!(rec.recall < 0.95, "{} recall {}", rec.class, rec.recall);
            }
        }
    }

    /// User-Agent labels are noisy the way real traffic is: iPads in
    /// desktop mode say macOS, Android browsers in desktop mode say Linux,
    /// some Windows machines sit behind TTL-normalising routers. The
    /// confident answers must stay right anyway.
    #[test]
    fn calibration_survives_label_noise() {
        use crate::classify::testdata::{realistic_syn, Rng};
        let model = Model::builtin().unwrap();
        let mut rng = Rng::new(11);
        let mut set = Vec::new();
        for n in 0..3000u32 {
            let stack = BROWSER_STACKS[(n % 5) as usize];
            let mut obs = realistic_syn(stack, n, &mut rng);
            let mut label = crate::classify::testdata::label(stack);
            match stack {
                Stack::Ios if rng.chance(15) => label = Os::MacOs,
                Stack::Android if rng.chance(15) => label = Os::Linux,
                Stack::Windows if rng.chance(10) => obs.ttl = 64 - (obs.ttl % 16),
                _ => {}
            }
            set.push((obs, label));
        }
        let r = evaluate(
            &model,
            set.iter().map(|(obs, os)| Sample {
                obs,
                p0f: None,
                os: *os,
            }),
        );
        println!("{r}");
        assert!(
            r.confident_accuracy >= Some(0.9),
            "{:?}",
            r.confident_accuracy
        );
        assert!(r.family.top1 >= 0.99);
        for b in &r.calibration {
            // No band may be far more sure of itself than it is right.
            if b.n >= 50 {
                let (right, sure) = (b.accuracy.unwrap_or(0.0), b.mean_confidence.unwrap_or(1.0));
                assert!(right >= sure - 0.15, "{b:?}");
            }
        }
    }

    #[test]
    fn other_stacks_are_recognised() {
        let r = report(&[Stack::FreeBsd, Stack::OpenBsd, Stack::Embedded], 100, 3);
        println!("{r}");
        assert!(r.family.top1 >= 0.95, "family top-1 {}", r.family.top1);
        // Embedded Linux with 20 x 1460 = 29200 is also what pre-4.19 desktop
        // kernels send: some of it is honestly called Linux.
        assert!(r.os.top1 >= 0.85, "OS top-1 {}", r.os.top1);
    }

    /// Top-2 is the true class among the two most probable, and a class
    /// with probability 0 is not one of them, even where the tie order of
    /// the zeros ranks it second.
    #[test]
    fn top2_never_counts_a_class_given_no_probability() {
        let model = Model::builtin().unwrap();
        let set = labelled_set(&[Stack::Windows], 1, 1);
        let mut c = model.classify(&set[0].0, None);
        let mut os = [0.0; N_OS];
        os[Os::Windows.index()] = 1.0;
        c.scores = OsScores(os);
        let mut fam = [0.0; N_FAMILY];
        fam[Family::Windows.index()] = 1.0;
        c.family_scores = FamilyScores(fam);
        c.os = Os::Windows;
        c.family = Family::Windows;
        let top2 = |c: &Classification, truth: Os| {
            let mut e = Evaluator::default();
            e.add(c, truth);
            let r = e.finish();
            (r.os.top2, r.family.top2)
        };
        // macOS and Apple are ranked second among the zeros (they come
        // first in the class order) but got nothing.
        assert_eq!(c.scores.ranked()[1], Os::MacOs);
        assert_eq!(c.family_scores.ranked()[1], Family::Apple);
        assert_eq!(top2(&c, Os::MacOs), (0.0, 0.0));
        assert_eq!(top2(&c, Os::Windows), (1.0, 1.0));
        os[Os::Windows.index()] = 0.9;
        os[Os::Ios.index()] = 0.1;
        c.scores = OsScores(os);
        assert_eq!(top2(&c, Os::Ios), (1.0, 0.0));
        fam[Family::Windows.index()] = 0.9;
        fam[Family::Apple.index()] = 0.1;
        c.family_scores = FamilyScores(fam);
        assert_eq!(top2(&c, Os::MacOs), (0.0, 1.0));
    }

    #[test]
    fn report_serialises_and_displays() {
        let r = report(&[Stack::Windows, Stack::Linux], 20, 1);
        let j = serde_json::to_value(&r).unwrap();
        for k in [
            "os",
            "family",
            "coverage",
            "os_recall",
            "os_confusion",
            "family_confusion",
            "calibration",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
        assert_eq!(j["os_confusion"]["matrix"].as_array().unwrap().len(), 10);
        // Band edges read as the decimals they are.
        assert_eq!(j["calibration"][2]["from"], 0.6);
        assert_eq!(j["calibration"][2]["to"], 0.7);
        let text = r.to_string();
        assert!(text.contains("top-1"));
        assert!(text.contains("calibration"));
    }

    #[test]
    fn shares_read_as_all_or_none_only_when_they_are() {
        assert_eq!(pct(1.0), "100.0%");
        assert_eq!(pct(2999.0 / 3000.0), "99.9%");
        assert_eq!(pct(0.9994), "99.9%");
        assert_eq!(pct(0.7935), "79.4%");
        assert_eq!(pct(1.0 / 3000.0), "0.1%");
        assert_eq!(pct(0.0), "0.0%");
    }
}
