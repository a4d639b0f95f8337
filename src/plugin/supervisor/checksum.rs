//! The executable's pinned SHA-256 (`sha256:` in the configuration), checked before every
//! start: the file may have been replaced since the last one.

use std::path::Path;

/// Checks `program` against `want`, reading it anew. `None` when it matches or nothing is
/// pinned; otherwise what is wrong, in words.
pub async fn checksum_problem(want: Option<[u8; 32]>, program: &str) -> Option<String> {
    let want = want?;
    let path = std::path::PathBuf::from(program);
    let got = tokio::task::spawn_blocking(move || sha256_file(&path)).await;
    match got {
        Ok(Ok(got)) if got == want => None,
        Ok(Ok(got)) => Some(format!(
            "{program} has SHA-256 {}, but the configuration expects {}; not starting it",
            hex(&got),
            hex(&want)
        )),
        Ok(Err(e)) => Some(format!("cannot hash {program}: {e}")),
        Err(e) => Some(format!("cannot hash {program}: {e}")),
    }
}

fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    use sha2::Digest;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().into())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_pinned_file_must_match() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("p");
        std::fs::write(&f, b"abc").unwrap();
        let program = f.to_str().unwrap();
        let right = sha256_file(&f).unwrap();
        assert_eq!(checksum_problem(None, program).await, None);
        assert_eq!(checksum_problem(Some(right), program).await, None);
        let wrong = checksum_problem(Some([0; 32]), program).await.unwrap();
        assert!(
            wrong.contains("but the configuration expects 0000"),
            "{wrong}"
        );
        assert!(wrong.starts_with(program), "{wrong}");
    }
}
