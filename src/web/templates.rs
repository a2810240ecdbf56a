//! The embedded page templates (minijinja, HTML auto-escaped) and the filters they share.

use std::sync::OnceLock;

use minijinja::{Environment, Value};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("error.html", include_str!("templates/error.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("home.html", include_str!("templates/home.html")),
    ("sources.html", include_str!("templates/sources.html")),
    ("wizard.html", include_str!("templates/wizard.html")),
    (
        "integration.html",
        include_str!("templates/integration.html"),
    ),
    ("job.html", include_str!("templates/job.html")),
    ("policies.html", include_str!("templates/policies.html")),
    ("audit.html", include_str!("templates/audit.html")),
    ("events.html", include_str!("templates/events.html")),
    ("event.html", include_str!("templates/event.html")),
    ("alerts.html", include_str!("templates/alerts.html")),
    ("issues.html", include_str!("templates/issues.html")),
    ("issue.html", include_str!("templates/issue.html")),
    ("datasets.html", include_str!("templates/datasets.html")),
    ("reports.html", include_str!("templates/reports.html")),
    (
        "investigation_tabs.html",
        include_str!("templates/investigation_tabs.html"),
    ),
    (
        "access_events.html",
        include_str!("templates/access_events.html"),
    ),
    (
        "access_event.html",
        include_str!("templates/access_event.html"),
    ),
    ("sessions.html", include_str!("templates/sessions.html")),
    ("session.html", include_str!("templates/session.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("a valid template");
        }
        env.add_filter("time", time);
        env
    })
}

/// `<time>` of an RFC 3339 instant: UTC in the text and on hover; the page's script rewrites
/// the text into the viewer's time zone.
fn time(value: Value) -> Value {
    match value.as_str() {
        Some(text) if !text.is_empty() => {
            let utc = chrono::DateTime::parse_from_rfc3339(text)
                .map(|at| {
                    at.with_timezone(&chrono::Utc)
                        .format("%Y-%m-%d %H:%M:%S UTC")
                        .to_string()
                })
                .unwrap_or_else(|_| text.to_owned());
            let escape = |s: &str| {
                s.replace('&', "&amp;")
                    .replace('<', "&lt;")
                    .replace('"', "&quot;")
            };
            Value::from_safe_string(format!(
                r#"<time datetime="{}" title="{}">{}</time>"#,
                escape(text),
                escape(&utc),
                escape(&utc)
            ))
        }
        _ => Value::from_safe_string("<span class=\"muted\">never</span>".to_owned()),
    }
}

/// Renders `name` with `context`.
pub fn render(name: &str, context: Value) -> Result<String, minijinja::Error> {
    env().get_template(name)?.render(context)
}
