//! Revealing masked evidence: a violation's stored evidence is masked (secrets as their first
//! and last characters, PII starred), and [`Services::reveal_violation`] gives the text it was
//! found in, cut at the violation's byte span, to a caller who states a reason. The reveal and
//! its reason are written to the audit log before the text is returned: a reveal that
//! cannot be audited shows nothing.
//!
//! Which roles may reveal is decided by the API (admin and investigator tokens: the roles that
//! read events); this function trusts its caller on that.

use logwarden_entities::{event, violation};
use sea_orm::{EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::sessions::tool_result_texts;
use crate::service::audit::Actor;
use crate::service::scope::Scope;
use crate::service::{Error, Services};

/// The longest reason, in bytes.
pub const REASON_MAX: usize = 1000;

/// Why evidence is revealed: required, and kept in the audit log.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// 1 to 1000 bytes, e.g. the case number.
    pub reason: String,
}

/// A text a violation's span was found in, cut at the span.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RevealedText {
    /// `input`, `output`, `tool_call:<id>` (the call's input as JSON) or `tool_result:<id>`.
    pub source: String,
    /// The unmasked evidence.
    pub text: String,
}

/// A violation's evidence, unmasked.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RevealedEvidence {
    #[schema(value_type = String)]
    pub violation_id: Uuid,
    #[schema(value_type = String)]
    pub event_id: Uuid,
    pub policy: String,
    pub rule: String,
    pub direction: String,
    pub span_start: i32,
    pub span_end: i32,
    pub masked_evidence: String,
    /// The span in the text it was found in. An input or output violation has one entry. A
    /// tool violation's span is in one of the event's tool calls or results, which the stored
    /// violation does not name: every one the span fits is listed.
    pub evidence: Vec<RevealedText>,
}

/// `text[start..end]`, when the span lies inside it on character boundaries.
fn cut(text: &str, start: i32, end: i32) -> Option<String> {
    let (start, end) = (usize::try_from(start).ok()?, usize::try_from(end).ok()?);
    (start < end).then_some(())?;
    text.get(start..end).map(str::to_owned)
}

impl Services {
    /// The unmasked evidence of violation `id`, if it exists inside `scope`, audited with
    /// `request.reason`.
    pub async fn reveal_violation(
        &self,
        scope: &Scope,
        actor: &Actor,
        id: Uuid,
        request: RevealRequest,
    ) -> Result<RevealedEvidence, Error> {
        let reason = request.reason.trim();
        if reason.is_empty() {
            return Err(Error::invalid(
                "reason",
                "must not be empty: say why the evidence is revealed",
            ));
        }
        if reason.len() > REASON_MAX {
            return Err(Error::invalid(
                "reason",
                format!("is longer than {REASON_MAX} bytes"),
            ));
        }
        let found = violation::Entity::find_by_id(id)
            .filter(scope.on_integration(violation::Column::IntegrationId))
            .find_also_related(event::Entity)
            .one(&self.db)
            .await?;
        let Some((v, Some(e))) = found else {
            return Err(Error::not_found("violation", id));
        };
        let evidence: Vec<RevealedText> = match v.direction.as_str() {
            "input" => cut(&e.input_text, v.span_start, v.span_end)
                .map(|text| RevealedText {
                    source: "input".to_owned(),
                    text,
                })
                .into_iter()
                .collect(),
            "output" => cut(&e.output_text, v.span_start, v.span_end)
                .map(|text| RevealedText {
                    source: "output".to_owned(),
                    text,
                })
                .into_iter()
                .collect(),
            _ => {
                let calls = e.tool_calls.as_array().into_iter().flatten();
                let inputs = calls.filter(|call| !call["input"].is_null()).map(|call| {
                    (
                        format!("tool_call:{}", call["id"].as_str().unwrap_or_default()),
                        call["input"].to_string(),
                    )
                });
                let results = tool_result_texts(&e.tool_calls)
                    .into_iter()
                    .map(|(call, text)| (format!("tool_result:{call}"), text));
                inputs
                    .chain(results)
                    .filter_map(|(source, text)| {
                        cut(&text, v.span_start, v.span_end)
                            .map(|text| RevealedText { source, text })
                    })
                    .collect()
            }
        };
        self.record_audit(
            actor.entry(format!("violation {id}"), Some(format!("reason: {reason}"))),
        )
        .await?;
        Ok(RevealedEvidence {
            violation_id: v.id,
            event_id: v.event_id,
            policy: v.policy,
            rule: v.rule,
            direction: v.direction,
            span_start: v.span_start,
            span_end: v.span_end,
            masked_evidence: v.evidence,
            evidence,
        })
    }
}
