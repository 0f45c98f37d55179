use wasm_bindgen::prelude::*;

/// A newtype that represents Serde errors as JavaScript exceptions.
#[derive(Debug)]
pub struct Error(JsValue);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        #[wasm_bindgen]
        extern "C" {
            #[wasm_bindgen(js_name = String)]
            pub fn to_string(value: &JsValue) -> String;
        }

        to_string(&self.0).fmt(f)
    }
}

impl std::error::Error for Error {}

impl Error {
    /// Creates a JavaScript `Error` with a given message.
    pub fn new<T: std::fmt::Display>(msg: T) -> Self {
        Error(JsError::new(&msg.to_string()).into())
    }
}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::new(msg)
    }
}

// usdt-checkout: serde's defaults for these format the unexpected value (`Unexpected`'s
// Display), which links all of core's float formatting (`f64: Display`, about 13 KB of wasm),
// and `str: Debug`'s escaping, into every build that reads JSON. The messages here say what was
// expected and where, without printing the value that was found.
impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error::new(msg)
    }

    fn invalid_type(_: serde::de::Unexpected, expected: &dyn serde::de::Expected) -> Self {
        Error::new(format_args!("invalid type, expected {expected}"))
    }

    fn invalid_value(_: serde::de::Unexpected, expected: &dyn serde::de::Expected) -> Self {
        Error::new(format_args!("invalid value, expected {expected}"))
    }

    fn invalid_length(len: usize, expected: &dyn serde::de::Expected) -> Self {
        Error::new(format_args!("invalid length {len}, expected {expected}"))
    }

    fn unknown_variant(variant: &str, _: &'static [&'static str]) -> Self {
        Error::new(format_args!("unknown variant {variant}"))
    }

    fn unknown_field(field: &str, _: &'static [&'static str]) -> Self {
        Error::new(format_args!("unknown field {field}"))
    }
}

/// This conversion is needed for `?` to just work when using wasm-bindgen
/// imports that return JavaScript exceptions as `Result<T, JsValue>`.
impl From<JsValue> for Error {
    fn from(error: JsValue) -> Error {
        Error(error)
    }
}

// This conversion is needed for `?` to just work in wasm-bindgen exports
// that return `Result<T, JsValue>` to throw JavaScript exceptions.
impl From<Error> for JsValue {
    fn from(error: Error) -> JsValue {
        error.0
    }
}
