//! Tables, YAML and JSON for `get` and friends.

use clap::ValueEnum;
use serde::Serialize;

/// `-o` formats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// A table.
    #[default]
    Table,
    /// A table with more columns.
    Wide,
    Yaml,
    Json,
}

/// Prints rows as an aligned table (like kubectl).
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        // A closed pipe (`| head`) ends the output quietly instead of panicking.
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{}", s.join("   ").trim_end());
    };
    line(headers.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// Prints objects as YAML documents or a JSON list, without managedFields noise.
pub fn structured<T: Serialize>(items: &[T], format: Format) -> anyhow::Result<()> {
    let mut values: Vec<serde_json::Value> = items
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    for v in &mut values {
        if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("managedFields");
        }
    }
    match format {
        Format::Json if values.len() == 1 => {
            println!("{}", serde_json::to_string_pretty(&values[0])?)
        }
        Format::Json => println!("{}", serde_json::to_string_pretty(&values)?),
        _ => {
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    println!("---");
                }
                print!("{}", serde_norway::to_string(v)?);
            }
        }
    }
    Ok(())
}

/// A duration since an RFC 3339 time, like kubectl's AGE column.
pub fn age(ts: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> String {
    let Some(t) = ts else { return "-".into() };
    let secs = (jiff_now_secs() - t.0.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn jiff_now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
