//! `shoal validate`: the offline check of manifest files, the same pipeline the API server
//! runs on a create (decode, default, validate), with errors pointing into the files.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use shoal_manifests::decode::{FieldValidation, decode_file};
use shoal_manifests::{default, validate};

/// Arguments of `shoal validate`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Manifest files (YAML or JSON, several documents each); `-` reads standard input.
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// What to do with fields the API does not know, as kube-apiserver's `fieldValidation`.
    #[arg(long, value_enum, default_value = "strict")]
    field_validation: Mode,
    /// Print the objects as they would be stored (`yaml`), or only problems (`none`).
    #[arg(short = 'o', long, value_enum, default_value = "none")]
    output: Output,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Mode {
    Strict,
    Warn,
    Ignore,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Output {
    Yaml,
    None,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mode = match args.field_validation {
        Mode::Strict => FieldValidation::Strict,
        Mode::Warn => FieldValidation::Warn,
        Mode::Ignore => FieldValidation::Ignore,
    };
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    let (mut objects, mut problems) = (0usize, 0usize);
    for file in &args.files {
        let (name, text) = read(file)?;
        let decoded = decode_file(&name, &text, mode);
        for warning in &decoded.warnings {
            writeln!(stderr, "warning: {warning}")?;
        }
        for error in &decoded.errors {
            writeln!(stderr, "error: {error}")?;
        }
        problems += decoded.errors.len();
        for manifest in decoded.manifests {
            let mut object = manifest.object;
            default::apply_defaults(&mut object);
            let errors = validate::validate(&object);
            let info = object.kind_info();
            let object_name = object.metadata().name.clone().unwrap_or_default();
            for error in &errors {
                let at = manifest.source_map.locate(&error.path);
                writeln!(
                    stderr,
                    "error: {name}: document {}, line {}, column {}: {} \"{object_name}\" is invalid: {error}",
                    manifest.document, at.line, at.column, info.kind
                )?;
            }
            problems += errors.len();
            objects += 1;
            if errors.is_empty() && matches!(args.output, Output::Yaml) {
                writeln!(stdout, "---")?;
                write!(stdout, "{}", serde_saphyr::to_string(&object.to_value())?)?;
            }
        }
    }
    if problems > 0 {
        writeln!(
            stderr,
            "{problems} problem(s) in {} file(s)",
            args.files.len()
        )?;
        return Ok(ExitCode::FAILURE);
    }
    writeln!(stderr, "{objects} object(s) valid")?;
    Ok(ExitCode::SUCCESS)
}

fn read(file: &PathBuf) -> anyhow::Result<(String, String)> {
    if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading standard input")?;
        return Ok(("<stdin>".to_owned(), text));
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok((file.display().to_string(), text))
}
