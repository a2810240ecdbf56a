//! The rate budget across integrations and failures: an integration whose add-time probe saw
//! no activity learns its organisation from the first activity it ingests, so that it draws on
//! that organisation's budget from then on.

use chrono::TimeDelta;
use logwarden_entities::{access_event, integration};
use logwarden_fake_api::FakeConfig;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

use crate::helpers::{day, Pipeline};

#[tokio::test]
async fn an_integration_added_without_an_organisation_learns_it_from_the_first_activity_it_ingests()
{
    let start = day() + TimeDelta::hours(12);
    let pipeline = Pipeline::start(
        FakeConfig {
            rate_limit: None,
            ..FakeConfig::default()
        },
        start,
    )
    .await;
    // As after an add-time probe that saw no activity.
    integration::Entity::update_many()
        .col_expr(
            integration::Column::OrganizationUuid,
            Expr::value(Option::<String>::None),
        )
        .filter(integration::Column::Id.eq(pipeline.integration_id))
        .exec(&pipeline.test.db)
        .await
        .unwrap();

    let api_now = start + TimeDelta::minutes(30);
    pipeline.fake.set_now(api_now);
    let lag = TimeDelta::minutes(2);
    pipeline.scheduler.tick(api_now + lag).await.expect("tick");
    pipeline.drain(api_now + lag).await;

    let ingested: Vec<Option<String>> = access_event::Entity::find()
        .select_only()
        .column(access_event::Column::OrganizationUuid)
        .filter(access_event::Column::OrganizationUuid.is_not_null())
        .distinct()
        .into_tuple()
        .all(&pipeline.test.db)
        .await
        .unwrap();
    assert_eq!(
        ingested.len(),
        1,
        "one organisation named in the window: {ingested:?}"
    );
    let organisation = ingested[0]
        .clone()
        .expect("activities name their organisation");
    let stored = integration::Entity::find_by_id(pipeline.integration_id)
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .unwrap()
        .organization_uuid;
    assert_eq!(stored, Some(organisation.clone()));
    assert_eq!(
        pipeline
            .services
            .learn_organization(pipeline.integration_id)
            .await
            .unwrap(),
        Some(organisation)
    );
}
