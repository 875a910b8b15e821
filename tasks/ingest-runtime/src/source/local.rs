//! A local directory laid out like the bucket: for laptops, the demo and tests.

use std::fs;
use std::io::Read;
use std::path::Path;

use super::{KeySelection, SourceError};

/// Lists files whose path starts with `<root><list_prefix>` (recursively, like an S3 listing).
pub(super) fn list(
    root: &Path,
    selection: &KeySelection,
) -> Result<Vec<(String, u64)>, SourceError> {
    let full_prefix = format!("{}{}", root.display(), selection.list_prefix);
    // Walk from the deepest existing directory that contains the prefix.
    let dir = match full_prefix.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(i) => full_prefix[..i].to_owned(),
        None => ".".to_owned(),
    };
    // The source is a directory (`.../elasticloadbalancing/us-east-1`) or a directory plus a
    // file-name prefix (`.../cloudfront/E2EXAMPLE`): one of the two must exist.
    let parent_is_dir = root
        .parent()
        .is_some_and(|p| p.as_os_str().is_empty() || p.is_dir());
    let name_prefix_form = parent_is_dir && !selection.list_prefix.starts_with('/');
    if !root.is_dir() && !name_prefix_form {
        return Err(SourceError::LocalList {
            path: root.display().to_string(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the --source directory does not exist",
            ),
        });
    }
    let mut out = Vec::new();
    let start = Path::new(&dir);
    if start.is_dir() {
        walk(start, &full_prefix, selection, &mut out)?;
    }
    Ok(out)
}

fn walk(
    dir: &Path,
    prefix: &str,
    selection: &KeySelection,
    out: &mut Vec<(String, u64)>,
) -> Result<(), SourceError> {
    let err = |source| SourceError::LocalList {
        path: dir.display().to_string(),
        source,
    };
    for entry in fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let path = entry.path();
        let Some(path_str) = path.to_str() else {
            continue;
        };
        let file_type = entry.file_type().map_err(err)?;
        if file_type.is_dir() {
            // Descend only where the prefix can still match.
            let as_dir = format!("{path_str}/");
            if as_dir.starts_with(prefix) || prefix.starts_with(&as_dir) {
                walk(&path, prefix, selection, out)?;
            }
        } else if path_str.starts_with(prefix) && selection.matches(path_str) {
            let size = entry.metadata().map_err(err)?.len();
            out.push((path_str.to_owned(), size));
        }
    }
    Ok(())
}

pub(super) fn open(path: &str) -> Result<Box<dyn Read + Send>, SourceError> {
    let file = fs::File::open(path).map_err(|source| SourceError::LocalOpen {
        path: path.to_owned(),
        source,
    })?;
    Ok(Box::new(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_by_folder_and_by_file_name_prefix_recursively() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for rel in [
            "2026/11/20/a.log.gz",
            "2026/11/20/b.log.gz",
            "2026/11/21/c.log.gz",
            "cf/E1.2026-11-20-00.x.gz",
            "cf/E1.2026-11-20-23.y.gz",
            "cf/E1.2026-11-21-00.z.gz",
            "cf/E2.2026-11-20-00.w.gz",
        ] {
            let p = root.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, b"x").unwrap();
        }
        let names = |found: Vec<(String, u64)>| {
            let mut v: Vec<String> = found
                .into_iter()
                .map(|(k, _)| k.rsplit('/').next().unwrap().to_owned())
                .collect();
            v.sort();
            v
        };
        let folder = KeySelection {
            list_prefix: "/2026/11/20/".into(),
            suffix: None,
        };
        assert_eq!(
            names(list(root, &folder).unwrap()),
            ["a.log.gz", "b.log.gz"]
        );
        let cf = KeySelection {
            list_prefix: ".2026-11-20-".into(),
            suffix: None,
        };
        assert_eq!(
            names(list(&root.join("cf/E1"), &cf).unwrap()),
            ["E1.2026-11-20-00.x.gz", "E1.2026-11-20-23.y.gz"]
        );
        let none = KeySelection {
            list_prefix: "/2026/11/22/".into(),
            suffix: None,
        };
        assert!(list(root, &none).unwrap().is_empty());
        assert!(matches!(
            list(&root.join("missing"), &none),
            Err(SourceError::LocalList { .. })
        ));
    }
}
