//! Fuzz target: the `strict` policy set evaluates arbitrary bytes (as lossy UTF-8) in every
//! role without panicking, and every finding's span lies inside the text on char boundaries.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use logwarden_policy::{template, CompiledPolicySet, MessageInput, Role};

static STRICT: LazyLock<Option<CompiledPolicySet>> = LazyLock::new(|| {
    template("strict").and_then(|config| CompiledPolicySet::compile(&config).ok())
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Some(set) = STRICT.as_ref() else {
        return;
    };
    for role in Role::ALL {
        let evaluation = set.evaluate(&MessageInput::new(role, &text));
        for finding in &evaluation.findings {
            assert!(finding.span.start <= finding.span.end && finding.span.end <= text.len());
            assert!(
                text.is_char_boundary(finding.span.start)
                    && text.is_char_boundary(finding.span.end)
            );
        }
    }
});
