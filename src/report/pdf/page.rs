//! The page model in millimetres, so layout is measured and tested without printpdf.

use printpdf::{
    BuiltinFont, Color, Line, LineDashPattern, LinePoint, Mm, Op, PaintMode, PdfFontHandle,
    PdfPage, Point, Pt, Rect, Rgb, TextItem, TextMatrix,
};

use crate::delivery::channel::letter::{self, Face, metrics, mm_to_pt, pt_to_mm, text_width_mm};

// ---------------------------------------------------------------------------------------
// Text.

/// Every piece of text in this file goes through [`letter::printable`], so that what is
/// measured is what is printed.
pub(super) fn printable(text: &str) -> String {
    letter::printable(text)
}

/// [`letter::wrap`] of [`printable`] text.
pub(super) fn wrap(text: &str, face: Face, size: f32, max_mm: f32) -> Vec<String> {
    letter::wrap(&printable(text), face, size, max_mm)
}

// ---------------------------------------------------------------------------------------
// The page model: measured runs and shapes in top-left millimetres.

pub(super) const A4_SHORT_MM: f32 = 210.0;
pub(super) const A4_LONG_MM: f32 = 297.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Colour(f32, f32, f32);

pub(super) const BLACK: Colour = Colour(0.0, 0.0, 0.0);
pub(super) const WHITE: Colour = Colour(1.0, 1.0, 1.0);
/// Secondary text: mid-dark grey, still readable when photocopied.
pub(super) const MUTED: Colour = Colour(0.35, 0.35, 0.35);
/// Headings and the certificate border: the charts' dark blue.
pub(super) const ACCENT: Colour = Colour(0.122, 0.306, 0.475);
/// Bars, as in the HTML charts (#3d6fa3).
pub(super) const BAR: Colour = Colour(0.239, 0.435, 0.639);
/// The target line, as in the HTML charts (#a3321f).
pub(super) const TARGET: Colour = Colour(0.639, 0.196, 0.122);
pub(super) const RULE: Colour = Colour(0.55, 0.55, 0.55);
pub(super) const GRID: Colour = Colour(0.85, 0.85, 0.85);
/// Every other table row.
pub(super) const BAND: Colour = Colour(0.945, 0.945, 0.945);

impl Colour {
    fn pdf(self) -> Color {
        Color::Rgb(Rgb::new(self.0, self.1, self.2, None))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Align {
    Left,
    Right,
    Centre,
}

/// How a piece of text is set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Style {
    pub(super) face: Face,
    pub(super) size: f32,
    pub(super) colour: Colour,
}

impl Style {
    pub(super) const fn new(face: Face, size: f32, colour: Colour) -> Style {
        Style { face, size, colour }
    }

    pub(super) fn width(self, text: &str) -> f32 {
        text_width_mm(text, self.face, self.size)
    }

    /// Height of Helvetica's capitals, in mm.
    pub(super) fn cap(self) -> f32 {
        pt_to_mm(self.size * metrics::CAP_HEIGHT)
    }
}

/// One line of text, measured and placed: it occupies `x_mm..x_mm + width_mm`.
#[derive(Debug, Clone)]
// `width_mm` is what the tests check the margins with.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) struct Run {
    pub(super) x_mm: f32,
    pub(super) baseline_mm: f32,
    pub(super) width_mm: f32,
    pub(super) style: Style,
    pub(super) text: String,
}

#[derive(Debug, Clone)]
pub(super) enum Shape {
    Line {
        from: (f32, f32),
        to: (f32, f32),
        width_pt: f32,
        colour: Colour,
        dashed: bool,
    },
    /// `x`, `y` is the top-left corner.
    Rect {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        fill: Option<Colour>,
        stroke: Option<(Colour, f32)>,
    },
}

#[derive(Debug, Clone)]
pub(super) struct Page {
    width_mm: f32,
    height_mm: f32,
    pub(super) runs: Vec<Run>,
    pub(super) shapes: Vec<Shape>,
}

impl Page {
    pub(super) fn new(width_mm: f32, height_mm: f32) -> Page {
        Page {
            width_mm,
            height_mm,
            runs: Vec::new(),
            shapes: Vec::new(),
        }
    }

    /// Places one line of text; `anchor_x` is its left end, right end or centre. Returns
    /// the width used (0 when there is nothing visible to print).
    pub(super) fn text(
        &mut self,
        text: &str,
        anchor_x: f32,
        baseline: f32,
        style: Style,
        align: Align,
    ) -> f32 {
        let text = printable(text);
        if text.trim().is_empty() {
            return 0.0;
        }
        let width = style.width(&text);
        let x_mm = match align {
            Align::Left => anchor_x,
            Align::Right => anchor_x - width,
            Align::Centre => anchor_x - width / 2.0,
        };
        self.runs.push(Run {
            x_mm,
            baseline_mm: baseline,
            width_mm: width,
            style,
            text,
        });
        width
    }

    pub(super) fn line(&mut self, from: (f32, f32), to: (f32, f32), width_pt: f32, colour: Colour) {
        self.shapes.push(Shape::Line {
            from,
            to,
            width_pt,
            colour,
            dashed: false,
        });
    }

    pub(super) fn dashed(
        &mut self,
        from: (f32, f32),
        to: (f32, f32),
        width_pt: f32,
        colour: Colour,
    ) {
        self.shapes.push(Shape::Line {
            from,
            to,
            width_pt,
            colour,
            dashed: true,
        });
    }

    pub(super) fn fill(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Colour) {
        self.shapes.push(Shape::Rect {
            x,
            y,
            w,
            h,
            fill: Some(colour),
            stroke: None,
        });
    }

    pub(super) fn frame(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Colour, width_pt: f32) {
        self.shapes.push(Shape::Rect {
            x,
            y,
            w,
            h,
            fill: None,
            stroke: Some((colour, width_pt)),
        });
    }

    /// Shapes first, then the text on top of them.
    pub(super) fn to_pdf_page(&self) -> PdfPage {
        let point = |x: f32, y: f32| LinePoint {
            p: Point::new(Mm(x), Mm(self.height_mm - y)),
            bezier: false,
        };
        let mut ops = vec![Op::SaveGraphicsState];
        for shape in &self.shapes {
            match *shape {
                Shape::Line {
                    from,
                    to,
                    width_pt,
                    colour,
                    dashed,
                } => {
                    ops.push(Op::SetOutlineColor { col: colour.pdf() });
                    ops.push(Op::SetOutlineThickness { pt: Pt(width_pt) });
                    ops.push(Op::SetLineDashPattern {
                        dash: if dashed {
                            LineDashPattern::new(0.0, &[3.0, 2.0])
                        } else {
                            LineDashPattern::solid()
                        },
                    });
                    ops.push(Op::DrawLine {
                        line: Line {
                            points: vec![point(from.0, from.1), point(to.0, to.1)],
                            is_closed: false,
                        },
                    });
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                } => {
                    if let Some(colour) = fill {
                        ops.push(Op::SetFillColor { col: colour.pdf() });
                    }
                    if let Some((colour, width_pt)) = stroke {
                        ops.push(Op::SetOutlineColor { col: colour.pdf() });
                        ops.push(Op::SetOutlineThickness { pt: Pt(width_pt) });
                        ops.push(Op::SetLineDashPattern {
                            dash: LineDashPattern::solid(),
                        });
                    }
                    let mode = match (fill.is_some(), stroke.is_some()) {
                        (true, true) => PaintMode::FillStroke,
                        (false, true) => PaintMode::Stroke,
                        _ => PaintMode::Fill,
                    };
                    ops.push(Op::DrawRectangle {
                        rectangle: Rect {
                            x: Pt(mm_to_pt(x)),
                            y: Pt(mm_to_pt(self.height_mm - y - h)),
                            width: Pt(mm_to_pt(w)),
                            height: Pt(mm_to_pt(h)),
                            mode: Some(mode),
                            winding_order: None,
                        },
                    });
                }
            }
        }
        ops.push(Op::StartTextSection);
        for run in &self.runs {
            let font = match run.style.face {
                Face::Regular => BuiltinFont::Helvetica,
                Face::Bold => BuiltinFont::HelveticaBold,
            };
            ops.push(Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(run.style.size),
            });
            ops.push(Op::SetFillColor {
                col: run.style.colour.pdf(),
            });
            ops.push(Op::SetTextMatrix {
                matrix: TextMatrix::Translate(
                    Pt(mm_to_pt(run.x_mm)),
                    Pt(mm_to_pt(self.height_mm - run.baseline_mm)),
                ),
            });
            ops.push(Op::ShowText {
                items: vec![TextItem::Text(run.text.clone())],
            });
        }
        ops.push(Op::EndTextSection);
        ops.push(Op::RestoreGraphicsState);
        PdfPage::new(Mm(self.width_mm), Mm(self.height_mm), ops)
    }
}
