//! report.html
pub fn render_html() {}
