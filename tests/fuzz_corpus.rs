//! Replays every fuzz target's corpus (`fuzz/corpus/<target>/`) on stable:
//! the inputs libFuzzer found, and the crashes fixed since, stay fixed
//! without nightly. The targets are `fuzz/src/lib.rs`, included here as is.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::Path;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in targets::TARGETS {
        let dir = root.join(name);
        let mut inputs: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .collect();
        inputs.sort();
        assert!(!inputs.is_empty(), "{name}: empty corpus");
        for input in &inputs {
            let data = std::fs::read(input).expect("read input");
            if std::panic::catch_unwind(|| target(&data)).is_err() {
                panic!("{name}: {} fails its target", input.display());
            }
        }
        println!("{name}: {} inputs", inputs.len());
    }
}
