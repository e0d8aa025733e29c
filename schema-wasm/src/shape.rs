//! The catalog as data: every type's shape, a table the validator walks (`walk/`).
//!
//! One generic walker over a table, instead of serde's derived code per type, keeps the browser
//! module small: the per-type code and the path tracking around it were half of its bytes. The
//! table is written by the `shaped_struct!` and `shaped_enum!` macros from the same declarations
//! that give the JSON Schema (`gen-schema`), so the two cannot drift apart.

/// What a value must be.
#[derive(Debug)]
pub enum Shape {
    /// A string of `min..=max` characters (Unicode scalar values).
    Text { min: usize, max: usize },
    /// An RFC 3339 timestamp string.
    Time,
    /// A number in `[0, 1]`.
    Unit,
    /// A finite number `>= 0`.
    NonNegative,
    /// Any JSON number.
    Number,
    /// An integer from `min` to 2^53 - 1.
    Integer { min: u64 },
    /// One of these strings.
    Enum { variants: &'static [&'static str] },
    /// An array of at most `max` items.
    List { item: &'static Shape, max: usize },
    /// An object of at most `max` keys, every value an `of`.
    Map { of: &'static Shape, max: usize },
    /// An object with these fields.
    Struct(&'static StructShape),
    /// Any JSON value.
    Any,
    /// A connection's request id (`formats::RequestId`).
    RequestId,
    /// A token subject (`formats::Subject`).
    Subject,
    /// An envelope's `id` (`ids::parse_event_id`).
    EventId,
    /// An event's `type`: any string, kept for the check after the walk (`walk::Found`).
    TypeName,
    /// An event's `data`: checked by the shape of its `type` when that came first, else kept as
    /// text and checked after the walk.
    Data,
    /// A value checked as `inner` and also kept as text (a published event's `target`).
    Kept(&'static Shape),
}

/// One field of a struct.
#[derive(Debug)]
pub struct Field {
    /// Its key in JSON.
    pub name: &'static str,
    pub shape: &'static Shape,
    /// May be absent or `null`.
    pub optional: bool,
}

/// An object with known fields. Fields not listed are refused when publishing and ignored when
/// reading (a newer server may add some).
#[derive(Debug)]
pub struct StructShape {
    pub fields: &'static [Field],
    pub rule: Rule,
}

/// The most fields a struct may have (the walker keeps one bit per field).
pub const MAX_FIELDS: usize = 32;

/// A rule across fields, checked once the object is read.
#[derive(Debug)]
pub enum Rule {
    None,
    /// The enumeration `field` must differ from the enumeration `from`.
    Differs {
        field: &'static str,
        from: &'static str,
    },
}

impl StructShape {
    /// The index of the field named `name`.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    /// The field names, in declaration order, for messages.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.fields.iter().map(|f| f.name)
    }
}

/// A type that stands for a shape in the catalog's declarations.
pub trait Shaped {
    const SHAPE: Shape;
    /// `Option<T>`: the field may be absent or `null`.
    const OPTIONAL: bool = false;
}

impl<T: Shaped> Shaped for Option<T> {
    const SHAPE: Shape = T::SHAPE;
    const OPTIONAL: bool = true;
}

/// Any JSON value.
impl Shaped for serde_json::Value {
    const SHAPE: Shape = Shape::Any;
}

/// Declares an object type of the catalog: the table entry (`Shaped`) and, with the `schema`
/// feature, a struct whose `JsonSchema` derive writes its JSON Schema. Fields are written with
/// their JSON names; attributes on a field (docs, `serde(default)`) are for the schema.
macro_rules! shaped_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $($(#[$field_meta:meta])* $field:ident: $ty:ty,)*
        }
        $(rule: $rule:expr;)?
    ) => {
        $(#[$meta])*
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(deny_unknown_fields))]
        #[allow(non_snake_case, dead_code)]
        pub struct $name {
            $($(#[cfg_attr(feature = "schema", $field_meta)])* pub $field: $ty,)*
        }

        impl $crate::shape::Shaped for $name {
            const SHAPE: $crate::shape::Shape = $crate::shape::Shape::Struct(&$crate::shape::StructShape {
                fields: &[$($crate::shape::Field {
                    name: stringify!($field),
                    shape: &<$ty as $crate::shape::Shaped>::SHAPE,
                    optional: <$ty as $crate::shape::Shaped>::OPTIONAL,
                },)*],
                rule: shaped_struct!(@rule $($rule)?),
            });
        }

        const _: () = assert!([$(stringify!($field),)*].len() <= $crate::shape::MAX_FIELDS);
    };
    (@rule) => { $crate::shape::Rule::None };
    (@rule $rule:expr) => { $rule };
}

/// Declares an enumeration of the catalog: strings from a fixed list, written as they are in JSON.
macro_rules! shaped_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident,)* }) => {
        $(#[$meta])*
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        #[allow(non_camel_case_types, dead_code)]
        pub enum $name {
            $($variant,)*
        }

        impl $crate::shape::Shaped for $name {
            const SHAPE: $crate::shape::Shape =
                $crate::shape::Shape::Enum { variants: &[$(stringify!($variant),)*] };
        }
    };
}

pub(crate) use {shaped_enum, shaped_struct};
