#!/usr/bin/python3
"""Regenerates samples/ from scratch: invented documents only (no third-party content).

Needs Debian packages: python3-reportlab python3-pil qpdf fonts-dejavu-core
(apt-get install -y python3-reportlab python3-pil qpdf fonts-dejavu-core). Not part of the build or tests.
Usage: scripts/samples/make_samples.py [OUT_DIR]   (default: samples/ next to scripts/)
"""
import io
import os
import random
import subprocess
import sys

from PIL import Image, ImageDraw, ImageFilter, ImageFont
from reportlab.lib.pagesizes import A4, letter
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
SANS = os.path.join(FONT_DIR, "DejaVuSans.ttf")
SANS_BOLD = os.path.join(FONT_DIR, "DejaVuSans-Bold.ttf")
MONO = os.path.join(FONT_DIR, "DejaVuSansMono.ttf")
PASSWORD = "folio-sample"  # documented in samples/README.md
OWNER_PASSWORD = "folio-owner"

VENDOR = ["Northwind Paper Supply Ltd.", "14 Harbour Lane", "Bristol BS1 4XY", "United Kingdom",
          "VAT no. GB 123 4567 89"]
CUSTOMER = ["Bill to:", "Alder & Finch Architects", "Attn: Accounts Payable", "2 Mill Street",
            "Oxford OX2 0AB"]
ITEMS = [  # description, quantity, unit price
    ("A4 copier paper, 80 g/m2, box of 5 reams", 12, 24.50),
    ("A3 drawing paper, 120 g/m2, pack of 250", 4, 31.20),
    ("Tracing paper roll, 914 mm x 50 m", 3, 42.00),
    ("Archive boxes, acid-free, pack of 10", 6, 18.75),
    ("Envelopes C4, self-seal, box of 250", 5, 22.40),
    ("Sticky notes 76x76 mm, 12 pads", 8, 6.90),
    ("Ring binders A4, 40 mm, pack of 10", 2, 27.60),
    ("Laminating pouches A4, 125 micron, 100", 3, 15.80),
    ("Presentation folders, pack of 50", 2, 34.00),
    ("Whiteboard markers, assorted, 12", 4, 9.95),
    ("Printer labels 63.5x38.1 mm, 100 sheets", 2, 19.50),
    ("Desk organiser, recycled board", 5, 12.25),
    ("Index dividers A4, 1-31, 5 sets", 6, 7.40),
    ("Document wallets, manila, pack of 50", 3, 16.60),
]
VAT_RATE = 0.20


def money(v):
    return f"£{v:,.2f}"


def invoice_pdf(path, rotate=0):
    pdfmetrics.registerFont(TTFont("Sans", SANS))
    pdfmetrics.registerFont(TTFont("SansBold", SANS_BOLD))
    c = canvas.Canvas(path, pagesize=A4, invariant=1)  # invariant: reproducible bytes
    c.setTitle("Invoice INV-2024-0117")
    c.setAuthor("Northwind Paper Supply Ltd. (fictional)")
    w, h = A4
    per_page = [ITEMS[:9], ITEMS[9:]]
    subtotal = sum(q * p for _, q, p in ITEMS)
    for page_no, items in enumerate(per_page, start=1):
        if rotate == 90:
            # A page stored sideways (as some scanners and print drivers do) and shown upright by /Rotate 90:
            # reportlab swaps the media box to landscape, so draw the portrait content turned 90 degrees
            # counter-clockwise; the viewer's clockwise /Rotate brings it back upright.
            c.setPageRotation(90)
            c.saveState()
            c.translate(h, 0)
            c.rotate(90)
        c.setFont("SansBold", 20)
        c.drawString(40, h - 60, "INVOICE")
        c.setFont("Sans", 10)
        for i, line in enumerate(VENDOR):
            c.drawRightString(w - 40, h - 50 - 13 * i, line)
        if page_no == 1:
            c.drawString(40, h - 90, "Invoice number: INV-2024-0117")
            c.drawString(40, h - 104, "Invoice date: 14 March 2024")
            c.drawString(40, h - 118, "Due date: 13 April 2024")
            c.drawString(40, h - 132, "Purchase order: PO-88213")
            for i, line in enumerate(CUSTOMER):
                (c.setFont("SansBold", 10) if i == 0 else c.setFont("Sans", 10))
                c.drawString(40, h - 170 - 13 * i, line)
            y = h - 260
        else:
            c.drawString(40, h - 90, "Invoice INV-2024-0117 (continued)")
            y = h - 140
        c.setFont("SansBold", 10)
        c.drawString(40, y, "Description")
        c.drawRightString(380, y, "Qty")
        c.drawRightString(470, y, "Unit price")
        c.drawRightString(w - 40, y, "Amount")
        c.line(40, y - 5, w - 40, y - 5)
        c.setFont("Sans", 10)
        for desc, q, p in items:
            y -= 18
            c.drawString(40, y, desc)
            c.drawRightString(380, y, str(q))
            c.drawRightString(470, y, money(p))
            c.drawRightString(w - 40, y, money(q * p))
        if page_no == len(per_page):
            y -= 30
            c.line(330, y + 12, w - 40, y + 12)
            vat = round(subtotal * VAT_RATE, 2)
            for label, value, bold in (("Subtotal", subtotal, False), ("VAT 20%", vat, False),
                                       ("Total due", subtotal + vat, True)):
                c.setFont("SansBold" if bold else "Sans", 11 if bold else 10)
                c.drawString(330, y, label)
                c.drawRightString(w - 40, y, money(value))
                y -= 16
            c.setFont("Sans", 9)
            c.drawString(40, 90, "Payment by bank transfer to: Northwind Paper Supply Ltd, sort code 00-00-00, "
                                 "account 00000000.")
            c.drawString(40, 76, "Please quote the invoice number with your payment. Thank you for your business.")
        c.setFont("Sans", 8)
        c.drawCentredString(w / 2, 40, f"Page {page_no} of {len(per_page)}")
        if rotate == 90:
            c.restoreState()
        c.showPage()
    c.save()


def letter_page_image(dpi, lines, title):
    """A plain typed letter page as an 8-bit gray image at `dpi`."""
    w, h = int(8.5 * dpi), int(11 * dpi)
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    big = ImageFont.truetype(SANS_BOLD, int(dpi * 0.22))
    body = ImageFont.truetype(SANS, int(dpi * 0.15))
    x, y = int(dpi * 1.0), int(dpi * 1.0)
    d.text((x, y), title, font=big, fill=0)
    y += int(dpi * 0.5)
    for line in lines:
        d.text((x, y), line, font=body, fill=0)
        y += int(dpi * 0.26)
    return img


def skewed_scan_tiff(path):
    dpi = 200
    rng = random.Random(7)
    page1 = letter_page_image(dpi, [
        "Harbour Street Surgery", "12 Quay Road, Bristol BS2 9ZZ", "",
        "Date: 2 February 2024", "Patient reference: HS-40917", "",
        "Dear Ms Rowan,", "",
        "Thank you for attending your appointment on 29 January 2024.",
        "Your test results are within the normal range and no further",
        "action is needed at this time. Please book a routine review",
        "in twelve months, or sooner if your symptoms return.", "",
        "Amount paid at reception: £35.00 (receipt no. 55120)", "",
        "Yours sincerely,", "", "Dr A. Example", "General Practitioner",
    ], "Letter of results")
    page2 = letter_page_image(dpi, [
        "Appointment summary", "",
        "29 Jan 2024   Consultation                 £25.00",
        "29 Jan 2024   Blood test (processing)      £10.00",
        "", "Total paid                                £35.00", "",
        "Next review due: January 2025", "",
        "This letter was produced for Folio's test samples and",
        "describes no real person or practice.",
    ], "Page 2 - details")
    frames = []
    for img, angle in ((page1, 2.5), (page2, -2.0)):
        img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
        # a little scanner noise, then 1-bit like a fax-grade scan
        px = img.load()
        for _ in range(4000):
            px[rng.randrange(img.width), rng.randrange(img.height)] = 0
        frames.append(img.point(lambda v: 255 if v > 140 else 0).convert("1"))
    frames[0].save(path, compression="group4", save_all=True, append_images=frames[1:], dpi=(dpi, dpi))


def receipt_jpeg(path):
    """A receipt 'photo': upright receipt on a gray desk, stored sideways with EXIF Orientation 6."""
    paper = Image.new("RGB", (420, 760), (250, 248, 240))
    d = ImageDraw.Draw(paper)
    mono = ImageFont.truetype(MONO, 20)
    bold = ImageFont.truetype(SANS_BOLD, 26)
    d.text((95, 30), "CORNER BAKERY", font=bold, fill=(20, 20, 20))
    lines = ["7 Station Parade, Bath", "Tel 01225 000000", "", "Receipt 004512", "2024-03-09  08:41", "",
             "Sourdough loaf      3.80", "Croissant x2        4.40", "Flat white          3.20",
             "Oat milk            0.40", "", "SUBTOTAL           11.80", "VAT incl.           0.53",
             "TOTAL              11.80", "", "CARD              11.80", "", "Thank you, see you soon!"]
    for i, line in enumerate(lines):
        d.text((30, 90 + 30 * i), line, font=mono, fill=(25, 25, 25))
    photo = Image.new("RGB", (640, 900), (118, 112, 104))
    photo.paste(paper.rotate(-1.5, expand=True, fillcolor=(118, 112, 104)), (100, 60))
    photo = photo.filter(ImageFilter.GaussianBlur(0.6))
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # stored turned 90 CCW; EXIF 6 says: turn 90 CW
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "Folio sample generator"
    stored.save(path, quality=88, exif=exif.tobytes())


def form_png(path):
    img = Image.new("RGB", (850, 1100), "white")
    d = ImageDraw.Draw(img)
    title = ImageFont.truetype(SANS_BOLD, 30)
    label = ImageFont.truetype(SANS, 18)
    hand = ImageFont.truetype(os.path.join(FONT_DIR, "DejaVuSerif-Italic.ttf"), 22)
    d.text((60, 50), "Change of Address Form", font=title, fill="black")
    d.rectangle((60, 100, 790, 104), fill=(30, 60, 140))
    fields = [("Full name", "Jordan Ellis"), ("Customer number", "C-204-7781"), ("Old address", "9 Elm Row, Leeds LS6 2AA"),
              ("New address", "31 Brook Close, York YO10 4QT"), ("Date of move", "01/05/2024"),
              ("Telephone", "07700 900123"), ("Email", "jordan.ellis@example.org")]
    y = 140
    for name, value in fields:
        d.text((60, y), name, font=label, fill="black")
        d.rectangle((280, y - 6, 790, y + 30), outline=(120, 120, 120), width=2)
        d.text((292, y - 2), value, font=hand, fill=(20, 40, 150))
        y += 70
    d.text((60, y + 10), "Send correspondence to:", font=label, fill="black")
    for i, (option, ticked) in enumerate((("New address", True), ("Email only", False))):
        bx = 320 + 220 * i
        d.rectangle((bx, y + 8, bx + 24, y + 32), outline="black", width=2)
        if ticked:
            d.line((bx + 4, y + 20, bx + 10, y + 28, bx + 22, y + 10), fill=(20, 40, 150), width=4)
        d.text((bx + 34, y + 8), option, font=label, fill="black")
    y += 90
    d.text((60, y), "Signature", font=label, fill="black")
    d.line((280, y + 28, 600, y + 28), fill=(120, 120, 120), width=2)
    d.text((300, y - 4), "J. Ellis", font=hand, fill=(20, 40, 150))
    d.text((60, 1040), "Fictional form made by Folio's sample generator.", font=label, fill=(110, 110, 110))
    img.save(path, optimize=True)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "samples")
    os.makedirs(out, exist_ok=True)
    p = lambda name: os.path.join(out, name)
    invoice_pdf(p("invoice.pdf"))
    invoice_pdf(p("invoice-rotated.pdf"), rotate=90)
    subprocess.run(["qpdf", "--encrypt", PASSWORD, OWNER_PASSWORD, "256", "--",
                    p("invoice.pdf"), p("invoice-protected.pdf")], check=True)
    skewed_scan_tiff(p("scan-skewed.tif"))
    receipt_jpeg(p("receipt-photo.jpg"))
    form_png(p("form.png"))
    for name in sorted(os.listdir(out)):
        print(f"{os.path.getsize(p(name)):>9}  {name}")


if __name__ == "__main__":
    main()
