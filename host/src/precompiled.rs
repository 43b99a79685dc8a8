//! A cache of compiled components on disk: `Component::serialize` output, keyed by the component's
//! SHA-256 and the engine's compatibility hash (which covers the wasmtime version and every setting
//! that affects code generation), with a SHA-256 checksum of the artifact written beside it.
//!
//! A cached artifact is loaded only when its checksum matches; a corrupt, truncated or mismatched
//! entry is ignored and rebuilt, never trusted. Writing is best effort and atomic (a rename), so
//! concurrent processes never read a half-written artifact.

use std::path::Path;

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Compiled now; no cache directory was given.
    Compiled,
    /// Compiled now and written to the cache (or the write failed, which only costs a later compile).
    CompiledAndCached,
    /// Loaded from the cache without compiling.
    Cached,
}

/// The lowercase hex form of a digest.
pub fn hex_digest(digest: &[u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache's file stem for `bytes` compiled by `engine`.
fn entry_name(engine: &Engine, digest: &[u8; 32]) -> String {
    let mut settings = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut settings);
    format!(
        "{}-{:016x}",
        hex_digest(digest),
        std::hash::Hasher::finish(&settings)
    )
}

/// Compiles `bytes` (whose SHA-256 is `digest`) for `engine`, or loads the compilation `cache` holds
/// for the same bytes and engine settings, writing it there when it had none.
pub fn compile(
    engine: &Engine,
    bytes: &[u8],
    digest: &[u8; 32],
    cache: Option<&Path>,
) -> wasmtime::Result<(Component, Source)> {
    let Some(dir) = cache else {
        return Ok((Component::new(engine, bytes)?, Source::Compiled));
    };
    let name = entry_name(engine, digest);
    let artifact = dir.join(format!("{name}.cwasm"));
    let checksum = dir.join(format!("{name}.sha256"));
    if let Some(component) = load(engine, &artifact, &checksum) {
        return Ok((component, Source::Cached));
    }
    let component = Component::new(engine, bytes)?;
    let serialized = component.serialize()?;
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let partial = dir.join(format!("{name}.{}.partial", std::process::id()));
        std::fs::write(&partial, &serialized)?;
        std::fs::write(&checksum, hex_digest(&Sha256::digest(&serialized).into()))?;
        std::fs::rename(&partial, &artifact)
    });
    if let Err(e) = written {
        tracing::warn!(dir = %dir.display(), "not caching a compiled component: {e}");
    }
    Ok((component, Source::CompiledAndCached))
}

/// Loads a precompiled component from the cache — the one place this crate uses `unsafe`.
///
/// `Component::deserialize` trusts its input to be wasmtime's own output for this engine; a tampered
/// or truncated file would be undefined behaviour. So the file's SHA-256 must match the checksum
/// written beside it when it was produced, and the file name carries the component's hash and the
/// engine's compatibility hash; anything else is ignored and recompiled.
fn load(engine: &Engine, artifact: &Path, checksum: &Path) -> Option<Component> {
    let expected = std::fs::read_to_string(checksum).ok()?;
    let bytes = std::fs::read(artifact).ok()?;
    if hex_digest(&Sha256::digest(&bytes).into()) != expected.trim() {
        tracing::warn!(file = %artifact.display(), "ignoring a cached component whose checksum does not match");
        return None;
    }
    // SAFETY: the bytes are exactly what `Component::serialize` wrote for an engine with the same
    // compatibility hash (checked by name and checksum above), which is the contract of
    // `deserialize`.
    unsafe { Component::deserialize(engine, &bytes) }.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest valid component: the preamble of the component binary format, no sections.
    const EMPTY: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

    fn cached_files(dir: &Path, extension: &str) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == extension))
            .collect()
    }

    #[test]
    fn a_second_load_comes_from_the_cache_and_a_corrupt_entry_is_rebuilt() {
        let engine = Engine::default();
        let bytes = EMPTY;
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let dir = tempfile::tempdir().unwrap();
        let first = compile(&engine, &bytes, &digest, Some(dir.path())).unwrap();
        assert_eq!(first.1, Source::CompiledAndCached);
        let second = compile(&engine, &bytes, &digest, Some(dir.path())).unwrap();
        assert_eq!(second.1, Source::Cached);

        // Flip one byte of the artifact: the checksum no longer matches, so it is compiled again.
        let artifact = &cached_files(dir.path(), "cwasm")[0];
        let mut corrupt = std::fs::read(artifact).unwrap();
        let middle = corrupt.len() / 2;
        corrupt[middle] ^= 0xff;
        std::fs::write(artifact, corrupt).unwrap();
        let third = compile(&engine, &bytes, &digest, Some(dir.path())).unwrap();
        assert_eq!(third.1, Source::CompiledAndCached);
        assert_eq!(
            compile(&engine, &bytes, &digest, Some(dir.path()))
                .unwrap()
                .1,
            Source::Cached
        );
    }

    #[test]
    fn another_engine_configuration_gets_an_entry_of_its_own() {
        let bytes = EMPTY;
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let dir = tempfile::tempdir().unwrap();
        compile(&Engine::default(), &bytes, &digest, Some(dir.path())).unwrap();
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = Engine::new(&config).unwrap();
        let (_, source) = compile(&other, &bytes, &digest, Some(dir.path())).unwrap();
        assert_eq!(source, Source::CompiledAndCached);
        assert_eq!(cached_files(dir.path(), "cwasm").len(), 2);
    }
}
