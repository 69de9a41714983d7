// Writes the synthetic sample images in examples/images/ (shapes drawn as SVG and rendered by sharp; no
// photographs, nothing downloaded). They exist so `sotr predict --model tiny --input examples/images` runs on a
// fresh clone; the tiny model's random weights find shapes, not real objects.
//   node examples/make-images.mjs
import sharp from 'sharp';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'images');

const scenes = [
  {
    name: 'street.jpg', w: 480, h: 360, bg: ['#8fb8de', '#d9d4c7'],
    shapes: `<rect x="0" y="250" width="480" height="110" fill="#5b5b5b"/>
      <rect x="60" y="190" width="150" height="70" rx="14" fill="#c0392b"/><circle cx="95" cy="262" r="18" fill="#222"/><circle cx="175" cy="262" r="18" fill="#222"/>
      <ellipse cx="330" cy="170" rx="22" ry="26" fill="#f0c8a0"/><rect x="305" y="195" width="50" height="80" rx="10" fill="#2e86c1"/>
      <rect x="410" y="80" width="40" height="180" fill="#7d6608"/>`,
  },
  {
    name: 'table.jpg', w: 400, h: 300, bg: ['#efe6d8', '#b08a5a'],
    shapes: `<ellipse cx="120" cy="170" rx="70" ry="40" fill="#f4f4f4" stroke="#999" stroke-width="3"/>
      <circle cx="120" cy="160" r="25" fill="#e67e22"/><rect x="240" y="90" width="40" height="110" rx="8" fill="#27ae60"/>
      <rect x="300" y="150" width="70" height="50" fill="#8e44ad"/>`,
  },
  {
    name: 'portrait.png', w: 240, h: 320, bg: ['#dfe9f3', '#7f8c8d'],
    shapes: `<circle cx="120" cy="95" r="45" fill="#f5cba7"/><rect x="60" y="145" width="120" height="150" rx="30" fill="#16a085"/>
      <polygon points="20,300 60,220 100,300" fill="#d35400"/>`,
  },
  {
    name: 'grey.jpg', w: 320, h: 240, bg: ['#ffffff', '#333333'], grey: true,
    shapes: `<circle cx="90" cy="120" r="50" fill="#111"/><rect x="170" y="60" width="110" height="120" fill="#888"/>`,
  },
];

for (const s of scenes) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${s.w}" height="${s.h}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="${s.bg[0]}"/><stop offset="1" stop-color="${s.bg[1]}"/></linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>${s.shapes}</svg>`;
  let img = sharp(Buffer.from(svg)).flatten({ background: '#ffffff' });
  if (s.grey) img = img.grayscale();
  img = s.name.endsWith('.png') ? img.png({ compressionLevel: 9, palette: true }) : img.jpeg({ quality: 80, mozjpeg: true });
  const info = await img.toFile(path.join(dir, s.name));
  console.log(`${s.name}: ${info.width}x${info.height}, ${info.size} bytes`);
}
