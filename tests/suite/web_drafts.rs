//! The Add New Integration wizard's draft in the database, on PostgreSQL and SQLite: kept per
//! dashboard session, its key encrypted under the master key, replaced in place, and deleted
//! with its session; without a master key a key is refused rather than stored in clear.

use logwarden::app::App;
use logwarden::infra::secret::Secret;
use logwarden::service::tokens::{NewToken, Role};
use logwarden_entities::web_session_draft;
use sea_orm::EntityTrait;

use crate::helpers::{test_settings, TestDb};

const KEY: &str = "sk-ant-admin01-draft-key-7890";

/// An app on `test` with `settings`, an operator token's id and a session of it.
async fn signed_in(
    test: &TestDb,
    settings: std::sync::Arc<logwarden::config::Settings>,
) -> (App, i64, String) {
    let app = App::with_database(test.db.clone(), &settings)
        .await
        .expect("app");
    let token = app
        .services
        .create_token(NewToken {
            name: "operator".into(),
            role: Role::Operator,
            projects: vec![],
        })
        .await
        .expect("token")
        .view
        .id;
    let session = app
        .services
        .start_web_session(token)
        .await
        .expect("session");
    (app, token, session)
}

async fn a_draft_is_kept_encrypted_and_ends_with_its_session(test: TestDb) {
    let (app, token, session) = signed_in(&test, test_settings(|_| {})).await;
    let services = &app.services;

    assert!(services.web_draft(&session).await.expect("read").is_none());
    services
        .save_web_draft(
            &session,
            r#"{"name":"acme"}"#.into(),
            Some(&Secret::new(KEY)),
        )
        .await
        .expect("save");
    let saved = services
        .web_draft(&session)
        .await
        .expect("read")
        .expect("a draft");
    assert_eq!(saved.answers, r#"{"name":"acme"}"#);
    assert_eq!(saved.api_key.as_ref().map(Secret::expose), Some(KEY));
    let rows = web_session_draft::Entity::find()
        .all(&test.db)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_ne!(
        rows[0].session_hash, session,
        "the session id is stored hashed"
    );
    let sealed = rows[0].api_key_encrypted.as_deref().expect("sealed key");
    assert!(!sealed.contains(KEY) && !sealed.contains("7890"));

    // A later step replaces the draft in place.
    services
        .save_web_draft(&session, r#"{"name":"acme-2"}"#.into(), None)
        .await
        .expect("save again");
    let saved = services
        .web_draft(&session)
        .await
        .expect("read")
        .expect("a draft");
    assert_eq!(saved.answers, r#"{"name":"acme-2"}"#);
    assert!(saved.api_key.is_none());

    // Another session sees nothing of it, and ending the session deletes it.
    let other = services.start_web_session(token).await.expect("session");
    assert!(services.web_draft(&other).await.expect("read").is_none());
    services.end_web_session(&session).await.expect("logout");
    let left = web_session_draft::Entity::find()
        .all(&test.db)
        .await
        .expect("rows");
    assert!(left.is_empty(), "the draft went with its session: {left:?}");
}

#[tokio::test]
async fn a_wizard_draft_is_kept_encrypted_and_ends_with_its_session_on_postgres() {
    a_draft_is_kept_encrypted_and_ends_with_its_session(TestDb::postgres().await).await;
}

#[tokio::test]
async fn a_wizard_draft_is_kept_encrypted_and_ends_with_its_session_on_sqlite() {
    a_draft_is_kept_encrypted_and_ends_with_its_session(TestDb::sqlite().await).await;
}

#[tokio::test]
async fn without_a_master_key_a_drafts_key_is_refused_and_nothing_is_stored() {
    let test = TestDb::sqlite().await;
    let (app, _, session) = signed_in(&test, test_settings(|args| args.master_key = None)).await;
    let services = &app.services;
    let refused = services
        .save_web_draft(&session, "{}".into(), Some(&Secret::new(KEY)))
        .await
        .expect_err("no master key");
    assert_eq!(refused.code(), "configuration_error");
    assert!(refused.to_string().contains("master_key"), "{refused}");
    assert!(!refused.to_string().contains(KEY));
    let rows = web_session_draft::Entity::find()
        .all(&test.db)
        .await
        .expect("rows");
    assert!(rows.is_empty(), "nothing stored: {rows:?}");
}
