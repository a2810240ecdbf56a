//! The fake Compliance API's planted prompts against the engine: under the `strict`
//! template each plant triggers its own policy in the input direction and no other planted
//! policy.

use logwarden_fake_api::plants::PLANTS;
use logwarden_policy::template;
use logwarden_policy::Role;
use logwarden_policy::{CompiledPolicySet, Direction, MessageInput};

const PLANTED_POLICIES: &[&str] = &[
    "pii",
    "code_leakage",
    "prompt_injection",
    "jailbreak",
    "malicious_url",
    "encoded_attacks",
    "obfuscated_attacks",
];

#[test]
fn every_plant_triggers_its_own_policy_and_no_other_planted_policy_under_strict() {
    let set = CompiledPolicySet::compile(&template("strict").expect("strict exists"))
        .expect("strict compiles");
    let mut problems = Vec::new();
    for (i, plant) in PLANTS.iter().enumerate() {
        let evaluation = set.evaluate(&MessageInput::new(Role::User, plant.text));
        let own = evaluation
            .findings
            .iter()
            .any(|f| f.policy == plant.policy && f.direction == Direction::Input);
        if !own {
            problems.push(format!(
                "plant {i} ({}) did not trigger its policy: {:?}",
                plant.policy, evaluation.findings
            ));
        }
        // The learned classifier scores "attack or not", so prompt_injection, jailbreak and
        // leakage all report its finding (rule `classifier`); only rule hits tell plants apart.
        for f in evaluation
            .findings
            .iter()
            .filter(|f| f.rule != "classifier")
        {
            if f.policy != plant.policy && PLANTED_POLICIES.contains(&f.policy) {
                problems.push(format!(
                    "plant {i} ({}) also triggered {} / {}: {}",
                    plant.policy, f.policy, f.rule, f.evidence
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
