//! Enums that are stored in the database and sent over the wire as fixed snake_case strings:
//! one macro gives each of them `as_str`, `FromStr`, `Display` and serde (and, with the
//! `sea-orm` feature, the impls that make it a string column of a SeaORM model), and one error
//! type for text that names no variant.

use std::fmt;

/// Longest part of a rejected value echoed back in an error; input can be arbitrary text and
/// the message must stay readable in a log line or an API response.
const MAX_ECHOED_CHARS: usize = 64;

/// Text that is not one of an enum's values. The message names the field and lists the valid
/// values, e.g. `invalid status "done": expected one of pending, enqueued, ...`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field} {value:?}: expected one of {}", .expected.join(", "))]
pub struct UnknownValueError {
    field: &'static str,
    value: String,
    expected: &'static [&'static str],
}

impl UnknownValueError {
    pub(crate) fn new(field: &'static str, value: &str, expected: &'static [&'static str]) -> Self {
        let value = if value.chars().count() > MAX_ECHOED_CHARS {
            let mut shortened: String = value.chars().take(MAX_ECHOED_CHARS).collect();
            shortened.push('…');
            shortened
        } else {
            value.to_owned()
        };
        Self {
            field,
            value,
            expected,
        }
    }

    /// The name of the field the value was given for.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// The rejected value (shortened when it is long).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Every accepted value, in declaration order.
    pub fn expected(&self) -> &'static [&'static str] {
        self.expected
    }
}

/// Serde visitor shared by every text enum, so that a bad value in JSON reports the same
/// message as a bad value in a query string or a CLI flag.
pub(crate) struct TextVisitor<T> {
    pub(crate) expecting: &'static str,
    pub(crate) marker: std::marker::PhantomData<T>,
}

impl<T> serde::de::Visitor<'_> for TextVisitor<T>
where
    T: std::str::FromStr<Err = UnknownValueError>,
{
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.expecting)
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<T, E> {
        value.parse().map_err(E::custom)
    }
}

/// Declares a fieldless enum whose values are the given strings.
///
/// `field` is the name used in parse errors (`invalid <field> "<value>": expected one of ...`).
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident (field = $field:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        // Stored as its text through `FromStr` and `Display`, so the column keeps the
        // strings it always had.
        #[cfg_attr(feature = "sea-orm", derive(sea_orm::DeriveValueType), sea_orm(value_type = "String"))]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            const TEXTS: &'static [&'static str] = &[$($text),+];

            /// The snake_case text stored in the database and sent over the wire.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                // `pad`, not `write_str`, so table columns (`{:<11}`) line up.
                formatter.pad(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::enum_text::UnknownValueError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::enum_text::UnknownValueError::new($field, text, Self::TEXTS)),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        // Its OpenAPI schema: a string with these values.
        #[cfg(feature = "utoipa")]
        impl ::utoipa::PartialSchema for $name {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                ::utoipa::openapi::ObjectBuilder::new()
                    .schema_type(::utoipa::openapi::schema::Type::String)
                    .enum_values(Some(Self::TEXTS.iter().copied()))
                    .into()
            }
        }

        #[cfg(feature = "utoipa")]
        impl ::utoipa::ToSchema for $name {}

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str($crate::enum_text::TextVisitor {
                    expecting: concat!("a ", $field, " string"),
                    marker: ::std::marker::PhantomData,
                })
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use super::*;

    text_enum! {
        enum Colour (field = "colour") {
            Red = "red",
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn every_value_round_trips_through_its_text() {
        for colour in Colour::ALL {
            assert_eq!(colour.as_str().parse::<Colour>(), Ok(*colour));
            assert_eq!(colour.to_string(), colour.as_str());
        }
    }

    #[test]
    fn display_honours_width_so_tables_line_up() {
        assert_eq!(format!("[{:<10}]", Colour::Red), "[red       ]");
        assert_eq!(format!("[{:>4}]", Colour::Red), "[ red]");
    }

    #[test]
    fn an_unknown_value_names_the_field_and_lists_the_valid_values() {
        let error = "green".parse::<Colour>().unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"invalid colour "green": expected one of red, dark_blue"#
        );
        assert_eq!(error.field(), "colour");
        assert_eq!(error.value(), "green");
        assert_eq!(error.expected(), &["red", "dark_blue"]);
    }

    #[test]
    fn a_very_long_rejected_value_is_shortened_in_the_message() {
        let long = "x".repeat(10_000);
        let error = long.parse::<Colour>().unwrap_err();
        assert_eq!(error.value().chars().count(), MAX_ECHOED_CHARS + 1);
        assert!(error.to_string().len() < 200);
    }

    #[test]
    fn serde_uses_the_text_and_reports_bad_values_like_from_str() {
        assert_eq!(
            serde_json::to_string(&Colour::DarkBlue).unwrap(),
            r#""dark_blue""#
        );
        assert_eq!(
            serde_json::from_str::<Colour>(r#""dark_blue""#).unwrap(),
            Colour::DarkBlue
        );
        let error = serde_json::from_str::<Colour>(r#""Red""#).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(r#"invalid colour "Red": expected one of red, dark_blue"#),
            "{error}"
        );
        assert!(serde_json::from_str::<Colour>("3").is_err());
    }
}
